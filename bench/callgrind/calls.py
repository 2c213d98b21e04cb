"""Calls per request to the functions matching a pattern, from a callgrind dump of 200 requests:
`calls.py out/NAME/cg.PID.2 "task_step_impl$|call_soon$"` (stop 31: the gateway and the bare pass-through make the
same 3.1 task steps a chat request). `analyze.py` counts the phase trampolines' calls with `calls()` too."""
import collections
import re
import sys


def calls(path, pattern):
    """Calls to each function whose name matches `pattern` (a compiled expression), summed over the dump."""
    names, counts, cur = {}, collections.Counter(), None
    for line in open(path, errors="replace"):
        if line.startswith(("fn=", "cfn=")):
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
            if m.group(2):
                names[m.group(1)] = m.group(2)
            if line.startswith("cfn="):
                cur = names.get(m.group(1))
        elif line.startswith("calls=") and cur and pattern.search(cur):
            counts[cur] += int(line[6:].split()[0])
    return counts


if __name__ == "__main__":
    for name, n in calls(sys.argv[1], re.compile(sys.argv[2])).most_common():
        print(n / 200, name[:90])
