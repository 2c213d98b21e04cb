import sys, json, pathlib
sys.path.insert(0, "/work/main/bench")
import nginx, targets
w = pathlib.Path("/tmp/i19/ng"); w.mkdir(exist_ok=True)
(w/"files").mkdir(exist_ok=True)
(w/"files"/"stream32.sse").write_text(nginx.stream32_body())
NPORT = 18480
(w/"nginx.conf").write_text(nginx.render_config(w, NPORT))
base = f"http://127.0.0.1:{NPORT}"
toml = targets.gateway_config(18481, base + "/v1", base + "/stream32/v1", "none", "none")
pathlib.Path("/tmp/i19/gw.toml").write_text(toml)
print(toml)
