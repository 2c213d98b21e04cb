#!/bin/bash
# Python and C calls per chat request (count.py; COUNTPY=another counter): cnt.sh OUT serve --config X, or cnt.sh OUT bare
# usage: cnt.sh OUT args...  (count.py server; 50 warm + 100 counted chat requests)
OUT=$1; shift
cd /work/main
(PYTHONHASHSEED=0 COUNT_OUT=$OUT .venv/bin/python ${COUNTPY:-/tmp/i19/count.py} "$@" > /tmp/cnt.log 2>&1 &); sleep 3; P=$(pgrep -f "count[0-9]*.py $1")
drive() { .venv/bin/python - $1 <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", 18481)
b = json.dumps({"model": "bench-model", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16})
for i in range(int(sys.argv[1])):
    c.request("POST", "/v1/chat/completions", b, {"content-type": "application/json"}); c.getresponse().read()
PY
}
drive 50; kill -USR1 $P; drive 100; kill -USR2 $P; sleep 0.5; kill $P
