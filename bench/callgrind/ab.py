"""A/B: CPU us per request of servers pinned on core 0 under wrk (core 1), alternating rounds.
usage: ab.py ROUNDS DURATION C label=DIR[@CONFIG] ... (DIR: gateway source dir, or "bare"; CONFIG: its TOML, default $CFG or /tmp/i19/gw.toml)"""
import os, subprocess, sys, time, http.client, signal, statistics
R, D, C = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
LUA = os.environ.get("LUA", "/tmp/i19/chat.lua")
PATH_ = os.environ.get("URLPATH", "/v1/chat/completions")
targets = [a.split("=", 1) for a in sys.argv[4:]]
PY = "/work/main/.venv/bin/python"
def start(src, port):
    if src == "bare":
        cmd = [PY, "/work/main/bench/bare.py", "--port", str(port), "--upstream", "http://127.0.0.1:18480"]
        env = dict(os.environ)
    else:
        src, _, cfgf = src.partition("@")
        cfg = open(cfgf or os.environ.get("CFG", "/tmp/i19/gw.toml")).read().replace("port = 18481", f"port = {port}")
        open(f"/tmp/i19/ab{port}.toml", "w").write(cfg)
        cmd = [PY, "-c", "import sys; sys.argv=['gateway','serve','--config',sys.argv[1]]; from gateway.cli import main; main()", f"/tmp/i19/ab{port}.toml"]
        env = dict(os.environ, PYTHONPATH=src)
    p = subprocess.Popen(["taskset", "-c", "0", *cmd], env=env, stdout=subprocess.DEVNULL, stderr=open(f"/tmp/i19/ab{port}.log", "w"), cwd="/tmp")
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5); c.request("GET", "/healthz"); c.getresponse().read(); break
        except OSError: time.sleep(0.2)
    return p
SYS = {}
FLT = {}
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    SYS[pid] = int(f[12]) / os.sysconf("SC_CLK_TCK")
    FLT[pid] = int(f[7])
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def wrk(port, d):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{C}", f"-d{d}s", "-s", LUA, f"http://127.0.0.1:{port}{PATH_}"], capture_output=True, text=True).stdout
    n = int([l for l in out.splitlines() if "requests in" in l][0].split()[0])
    non2 = [l for l in out.splitlines() if "Non-2xx" in l]
    if non2: print("  !!", non2)
    return n
procs = {}
for i, (label, src) in enumerate(targets):
    procs[label] = (start(src, 18600 + i), 18600 + i)
    wrk(18600 + i, 2)
res = {l: [] for l, _ in targets}
sysres = {}
fltres = {}
for r in range(R):
    order = targets if r % 2 == 0 else targets[::-1]
    for label, _ in order:
        p, port = procs[label]
        c0 = cpu(p.pid); s0 = SYS[p.pid]; f0 = FLT[p.pid]; n = wrk(port, D); c1 = cpu(p.pid); s1 = SYS[p.pid]
        fltres.setdefault(label, []).append((FLT[p.pid] - f0) / n)
        res[label].append((c1 - c0) / n * 1e6)
        sysres.setdefault(label, []).append((s1 - s0) / n * 1e6)
    print(f"round {r+1}: " + "  ".join(f"{l} {res[l][-1]:.1f}" for l, _ in targets), flush=True)
base = targets[0][0]
for l, _ in targets:
    print(f"{l:12s} median {statistics.median(res[l]):.1f} us/req   ratio to {base} per round: " +
          " ".join(f"{a/b:.3f}" for a, b in zip(res[l], res[base])) + f"   sys median {statistics.median(sysres[l]):.1f}  minflt/req {statistics.median(fltres[l]):.3f}")
for p, _ in procs.values(): p.send_signal(signal.SIGINT)
for p, _ in procs.values(): p.wait()
