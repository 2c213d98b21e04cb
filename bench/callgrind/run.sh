#!/bin/bash
# usage: run.sh NAME [server argv...]  (callgrind out in /tmp/i19/out/NAME)
NAME=$1; shift
OUT=/tmp/i19/out/$NAME; rm -rf $OUT; mkdir -p $OUT
cd ${DIR:-/work/main}
PYTHONPATH=${DIR:-/work/main} PYTHONHASHSEED=0 nice -n 19 valgrind --tool=callgrind --callgrind-out-file=$OUT/cg.%p --collect-atstart=yes "$@" > $OUT/server.log 2>&1 &
VPID=$!
sleep 3
OUT=$OUT/times.json PORT=${PORT:-18481} /work/main/.venv/bin/python /tmp/i19/drive.py $VPID
kill -INT $VPID; wait $VPID
ls $OUT
