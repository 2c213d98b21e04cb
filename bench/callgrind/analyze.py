import json, re, subprocess, sys, glob, os, collections
run = sys.argv[1]; N = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("N", "200"))
plain = json.load(open(f"{sys.argv[3]}/result.json")) if len(sys.argv) > 3 else None  # the same code, no wrappers

K_SYNC = 3500  # a sync trampoline call's own instructions (mb_wrap.py)
ASYNC = {"asgi", "app", "srv_send", "srv_receive", "entry_mw", "router", "endpoint", "read_json", "dispatch",
         "upstream_send", "read_body", "resp_close", "resp_send", "store", "aiohttp_read", "entrance"}

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from calls import calls  # noqa: E402

def phase_calls(path):
    return calls(path, re.compile(r"^phase_"))

times = json.load(open(f"{run}/times.json"))
mapping = json.load(open(f"{run}/phasemap.json")) if os.path.exists(f"{run}/phasemap.json") else {}
dumps = {}
gcs = {}
for f in sorted(glob.glob(f"{run}/cg.*.*")):
    head = open(f, errors="replace").read(4000)
    label = re.search(r"desc: Trigger: dump (\S+)", head)
    if not label: continue
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", f], capture_output=True, text=True).stdout
    total = int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", out).group(1).replace(",", ""))
    gcm = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*gcmodule.c:gc_collect_main ", out, re.M)
    gcs[label.group(1)] = int(gcm.group(1).replace(",", "")) if gcm else 0
    phases = collections.Counter()
    for m in re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+\S*:(phase_\d{3}) ", out, re.M):
        phases[m.group(2)] = max(phases[m.group(2)], int(m.group(1).replace(",", "")))
    dumps[label.group(1)] = (total, phases, phase_calls(f) if mapping else {})
idle_rate = dumps["idle"][0] / times["idle_s"]
result = {}
for kind, (total, phases, calls) in dumps.items():
    if kind == "idle": continue
    tot = (total - idle_rate * times[kind]) / N
    kcost = {}
    if plain and calls:
        n_sync = sum(c for fn, c in calls.items() if mapping[fn][1] not in ASYNC) / N
        n_async = sum(c for fn, c in calls.items() if mapping[fn][1] in ASYNC) / N
        k_async = (tot - plain[kind]["total"] - K_SYNC * n_sync) / n_async
        kcost = {fn: (k_async if mapping[fn][1] in ASYNC else K_SYNC) for fn in calls}
        print(f"-- {kind}: wrapped calls/request: {n_sync:.0f} sync ({K_SYNC} each), {n_async:.0f} async steps ({k_async:,.0f} each): removed")
    excl = collections.Counter(); pairs = {}
    for fn, cost in phases.items():
        parent, child = mapping[fn]
        c = cost / N
        pairs[(parent, child)] = pairs.get((parent, child), 0) + c
        excl[child] += c
        excl[parent] -= c + kcost.get(fn, 0) * calls.get(fn, 0) / N
    if plain: tot = plain[kind]["total"]
    excl.pop("root", 0)
    other = tot - sum(excl.values())  # root's exclusive = -sum(children of root)
    excl["other"] = other
    result[kind] = {"gc": gcs.get(kind, 0) / N, "total_without_gc": tot - gcs.get(kind, 0) / N, "total": tot, "idle_per_req": idle_rate * times[kind] / N, "phases": dict(excl),
                    "pairs": {f"{p}>{c}": v for (p, c), v in pairs.items()}}
    print(f"== {kind}: {tot:,.0f} instr/request (idle subtracted {idle_rate*times[kind]/N:,.0f}; cyclic GC in it: {gcs.get(kind, 0)/N:,.0f})")
    for name, v in sorted(excl.items(), key=lambda kv: -kv[1]):
        print(f"   {name:16s} {v:>11,.0f}  {100*v/tot:5.1f}%")
json.dump(result, open(f"{run}/result.json", "w"), indent=1)
