"""uvicorn's per-header work on a response start: its two regular expressions (about 1.5K a call plus ~50 a byte),
lower(), extend. `mb.sh /tmp/i19/mb_hdr.py` (stop 31; the last CASES are what is measured)."""
import re
HEADER_RE = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
HEADER_VALUE_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
K = 1000
G = [(b"content-length", b"434"), (b"content-type", b"application/json"), (b"x-gateway-attempts", b"1"),
     (b"x-gateway-cache", b"bypass"), (b"x-gateway-provider", b"bench-upstream"), (b"x-request-id", b"73af61b1c7b52bbe458ed332bf07a66f")]
B = G[:2]
def loop(headers):
    content = [b"HTTP/1.1 200 OK\r\n"]
    for name, value in headers:
        if HEADER_RE.search(name):
            raise RuntimeError
        if HEADER_VALUE_RE.search(value):
            raise RuntimeError
        name = name.lower()
        if name == b"content-length":
            pass
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            pass
        elif name == b"connection":
            pass
        content.extend([name, b": ", value, b"\r\n"])
    return b"".join(content)
def joined(headers):
    content = [b"HTTP/1.1 200 OK\r\n"]
    if HEADER_RE.search(b"".join([n for n, _ in headers])) or HEADER_VALUE_RE.search(b"".join([v for _, v in headers])):
        raise RuntimeError
    for name, value in headers:
        name = name.lower()
        if name == b"content-length":
            pass
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            pass
        elif name == b"connection":
            pass
        content.extend([name, b": ", value, b"\r\n"])
    return b"".join(content)
def nothing(): pass
CASES = {"nothing": nothing, "loop6": lambda: loop(G), "loop2": lambda: loop(B), "joined6": lambda: joined(G), "joined2": lambda: joined(B)}
N = b"x-gateway-provider"
def s1(): HEADER_RE.search(N)
def s2(): HEADER_VALUE_RE.search(b"bench-upstream")
def lw(): N.lower()
def ext():
    c = []
    c.extend([N, b": ", N, b"\r\n"])
CASES.update({"search_name": s1, "search_value": s2, "lower": lw, "extend": ext})
def checks6():
    if HEADER_RE.search(b"".join([n for n, _ in G])) or HEADER_VALUE_RE.search(b"".join([v for _, v in G])):
        raise RuntimeError
def rest6():
    content = [b"HTTP/1.1 200 OK\r\n"]
    for name, value in G:
        name = name.lower()
        if name == b"content-length":
            pass
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            pass
        elif name == b"connection":
            pass
        content.extend([name, b": ", value, b"\r\n"])
    return b"".join(content)
def search_long(): HEADER_VALUE_RE.search(b"73af61b1c7b52bbe458ed332bf07a66f")
CASES = {"nothing": nothing, "loop6": lambda: loop(G), "checks6": checks6, "rest6": rest6, "search_long": search_long, "search_value": s2}
