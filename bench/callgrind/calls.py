"""Calls per request to the C functions matching a pattern, from a callgrind dump of 200 requests:
`calls.py out/NAME/cg.PID.2 "task_step_impl$|call_soon$"` (stop 31: the gateway and the bare pass-through make the
same 3.1 task steps a chat request)."""
import re, sys, collections
path, pat = sys.argv[1], re.compile(sys.argv[2])
names, calls, cur = {}, collections.Counter(), None
for line in open(path, errors="replace"):
    if line.startswith(("fn=", "cfn=")):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
        if m.group(2): names[m.group(1)] = m.group(2)
        if line.startswith("cfn="): cur = names.get(m.group(1))
    elif line.startswith("calls=") and cur and pat.search(cur):
        calls[cur] += int(line[6:].split()[0])
for k, v in calls.most_common(): print(v / 200, k[:90])
