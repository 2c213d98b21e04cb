"""Process-wide settings for a serving process (`gateway serve`, each `--workers` process), applied once the
app is built and before the first request. Tests build apps without them.

Python's cyclic garbage collector ran about 0.1 times a request under load with its default gen-0 threshold
(700 net container allocations: a few concurrent requests hold that many live objects), and every few
hundred requests a full collection walked the whole heap, 30 ms each on the benchmark machine: 8% of the
gateway's CPU, for garbage that reference counting frees anyway (bench/README.md). So:
- `gc.freeze()`: what startup built (modules, the app, the config) lives as long as the process; it moves to
  the permanent generation that collections skip;
- a gen-0 threshold of 20,000: collections still happen, and cyclic garbage is still freed, a few times a
  minute rather than a hundred times a second.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
