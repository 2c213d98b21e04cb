#!/bin/bash
# usage: mbcount.sh SRC -- instructions per Dispatcher.complete call (mbdisp.py at N=2000 and 6000, the difference / 4000)
src=$1
for n in 2000 6000; do SRC=$src N=$n valgrind --tool=callgrind --callgrind-out-file=/tmp/i19/mbd.out /work/main/.venv/bin/python /tmp/i19/mbdisp.py >/dev/null 2>/tmp/i19/mbd.err; grep -o 'Collected : [0-9]*' /tmp/i19/mbd.err | awk '{print $3}'; done | paste -sd' ' | awk '{printf "%.0f instr/call\n", ($2-$1)/4000}'
