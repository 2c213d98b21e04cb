#!/bin/bash
# usage: mb.sh script.py  -- the script defines CASES = {name: fn}; each runs K times inside its own trampoline
OUT=/tmp/i19/mbout; mkdir -p $OUT; rm -f $OUT/cg.*
PYTHONHASHSEED=0 valgrind --tool=callgrind --collect-atstart=no --toggle-collect='phase_*' --callgrind-out-file=$OUT/cg.%p /work/main/.venv/bin/python /tmp/i19/mbrun.py "$@" > $OUT/log 2>&1
f=$(ls $OUT/cg.* | head -1)
callgrind_annotate --inclusive=yes --threshold=100 $f 2>/dev/null | grep -o "[0-9,]* ([ 0-9.]*%)  [^ ]*:phase_[0-9]*" > $OUT/phases.txt
/work/main/.venv/bin/python - "$@" <<'PY'
import json, re
names = json.load(open("/tmp/i19/mbout/names.json"))
for line in open("/tmp/i19/mbout/phases.txt"):
    m = re.match(r"([\d,]+) .*:(phase_\d+)", line)
    n, K = names[m.group(2)]
    print(f"{n:30s} {int(m.group(1).replace(',', '')) / K:>12,.0f} instr/call")
PY
