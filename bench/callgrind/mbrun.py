import sys, json, runpy
sys.path.insert(0, "/tmp/i19"); sys.path.insert(0, "/work/main/bench")
sys.path.insert(0, sys.argv[2] if len(sys.argv) > 2 else "/work/main")
import phasetramp as T
ns = runpy.run_path(sys.argv[1])
K = ns.get("K", 200)
names = {}
for i, (name, fn) in enumerate(ns["CASES"].items()):
    fn(); fn()  # warm
    t = getattr(T, f"phase_{i:03d}")
    for _ in range(K):
        t(fn)
    names[f"phase_{i:03d}"] = (name, K)
json.dump(names, open("/tmp/i19/mbout/names.json", "w"))
