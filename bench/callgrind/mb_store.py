"""The memory responses store: a put once full, and cachetools caches alone: `mb.sh /tmp/i19/mb_store.py`."""
from gateway.state.responses import MemoryResponses
K = 1000
s = MemoryResponses(1000, 3600, 64 << 20)
rec = b"x" * 1500
i = [0]
def run(coroutine):  # a put awaits nothing: one send runs it to the end
    try:
        coroutine.send(None)
    except StopIteration:
        pass
def put():
    i[0] += 1
    run(s.put("", f"resp_{i[0]}", rec))
for _ in range(1500): put()
def nothing(): pass
CASES = {"nothing": nothing, "put(full)": put}
s2 = MemoryResponses(10**6, 3600, 1 << 40)
j = [0]
def put_free():
    j[0] += 1
    run(s2.put("", f"resp_{j[0]}", rec))
from cachetools import TTLCache, FIFOCache, LRUCache
t = TTLCache(1000, 3600)
for n in range(1500): t[n] = rec
k = [10**6]
def ttl_plain():
    k[0] += 1; t[k[0]] = rec
f = FIFOCache(1000)
for n in range(1500): f[n] = rec
def fifo():
    k[0] += 1; f[k[0]] = rec
def fstr(): f"resp_{k[0]}"
CASES.update({"put(not full)": put_free, "TTLCache full, no sizeof": ttl_plain, "FIFOCache full": fifo, "fstr": fstr})
