"""A pass over the request headers looking for two names, per request: a Python loop against a dict built in C, with
http.client's four headers and the OpenAI SDK's sixteen, each name a fresh bytes object as a server parses it
(stop 29; stop 30 added the second pass over names already hashed, and the scan in C): `mb.sh /tmp/i19/mb_fw4.py`."""
K = 1000
def mk(): return [(b"host", b"127.0.0.1:18481"), (b"accept-encoding", b"identity"), (b"content-length", b"90"), (b"content-type", b"application/json")]
def mks(): return [(b"host", b"x"), (b"accept-encoding", b"gzip"), (b"connection", b"keep-alive"), (b"accept", b"application/json"), (b"content-type", b"application/json"), (b"user-agent", b"OpenAI/Python 1.0"), (b"x-stainless-lang", b"python"), (b"x-stainless-package-version", b"1"), (b"x-stainless-os", b"Linux"), (b"x-stainless-arch", b"x64"), (b"x-stainless-runtime", b"CPython"), (b"x-stainless-runtime-version", b"3.11"), (b"authorization", b"Bearer x"), (b"x-stainless-async", b"false"), (b"x-stainless-retry-count", b"0"), (b"content-length", b"90")]
# fresh bytes objects each time, as a server parses them (hashes not cached)
def fresh(h): return [(bytes(bytearray(n)), v) for n, v in h]
F = frozenset((b"x-forwarded-for", b"x-forwarded-proto"))
def cases(make):  # nothing (the iteration alone), a Python loop, a dict built in C; over fresh header lists
    rows = iter([fresh(make()) for _ in range(4 * K + 10)])
    def nothing(): next(rows)
    def loop():
        for name, _ in next(rows):
            if name in F:
                return 1
    def in_dict():
        d = dict(next(rows))
        return b"x-forwarded-for" in d or b"x-forwarded-proto" in d
    return nothing, loop, in_dict
nothing, loop4, dict4 = cases(mk)
nothing16, loop16, dict16 = cases(mks)
CASES = {"nothing": nothing, "loop4": loop4, "dict4": dict4, "nothing16": nothing16, "loop16": loop16, "dict16": dict16}


_first = __import__("operator").itemgetter(0)
def cases_disjoint(make):  # the scan in C: frozenset.isdisjoint over the names
    rows = iter([fresh(make()) for _ in range(4 * K + 10)])
    def disjoint():
        return not F.isdisjoint(map(_first, next(rows)))
    return disjoint
CASES["disjoint4"] = cases_disjoint(mk)
CASES["disjoint16"] = cases_disjoint(mks)
