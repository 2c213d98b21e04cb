"""One GCRA decision, a TAT correction and a priced cost (stop 32: min() and max() written out):
`mb.sh /tmp/i19/mb_gcra.py [SRC]`."""
import time
from gateway.state import gcra, corrected, Rate
from gateway.access.prices import Price
K = 2000
now = time.monotonic()
rate = Rate("k:rpm", 600, 60.0, 1.0)
price = Price(0.15, 0.60, 0.075)
def nothing(): pass
def g(): gcra(now - 1.0, now, rate)
def c(): corrected(now - 1.0, now, rate)
def p(): price.cost(1000, 500, 400)
CASES = {"nothing": nothing, "gcra": g, "corrected": c, "Price.cost": p}
