"""One clock read from Python (`time.time`, `time.monotonic`): `mb.sh /tmp/i19/mb_clk.py`."""
import time
K = 1000
def nothing(): pass
def t(): time.time()
def m(): time.monotonic()
CASES = {"nothing": nothing, "time.time": t, "monotonic": m}
