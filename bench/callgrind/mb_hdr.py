"""uvicorn's per-header work on a response start, and what gateway/response_head.py does instead (stop 31):
`mb.sh /tmp/i19/mb_hdr.py`.

- one call each: a regular expression's search (about 1.5K plus ~50 a byte: `search_value`, `search_long`),
  `lower()`, the `extend` of the head;
- a chat answer's seven headers (fresh value objects, as a server gets them; `fresh` is that part alone):
  `loop7`, uvicorn's loop; `memo7`, names and values remembered, letters-and-digits values as they are.
(`bytes.translate` with the allowed bytes as `delete` was tried too: slower than the expressions, it builds its
table on every call.)"""
import re
HEADER_RE = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')  # uvicorn's
HEADER_VALUE_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
K = 1000
G = [(b"date", b"Sat, 05 Dec 2026 08:29:18 GMT"), (b"content-length", b"434"), (b"content-type", b"application/json"),
     (b"x-gateway-attempts", b"1"), (b"x-gateway-cache", b"bypass"), (b"x-gateway-provider", b"bench-upstream"),
     (b"x-request-id", b"73af61b1c7b52bbe458ed332bf07a66f")]
N = b"x-gateway-provider"
NAMES, VALUES = set(), set()


def fresh():
    return [(n, bytes(bytearray(v))) for n, v in G]


def loop(headers):
    content = [b"HTTP/1.1 200 OK\r\n"]
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            raise RuntimeError
        name = name.lower()
        if name == b"content-length":
            pass
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            pass
        content.extend([name, b": ", value, b"\r\n"])
    return b"".join(content)


def memo(headers):
    content = [b"HTTP/1.1 200 OK\r\n"]
    for name, value in headers:
        if name not in NAMES:
            if HEADER_RE.search(name):
                raise RuntimeError
            NAMES.add(name)
        if value not in VALUES and not value.isalnum():
            if HEADER_VALUE_RE.search(value):
                raise RuntimeError
            VALUES.add(value)
        name = name.lower()
        if name == b"content-length":
            pass
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            pass
        content.extend([name, b": ", value, b"\r\n"])
    return b"".join(content)


def extend():
    [].extend([N, b": ", N, b"\r\n"])


CASES = {
    "nothing": lambda: None,
    "search_name": lambda: HEADER_RE.search(N),
    "search_value": lambda: HEADER_VALUE_RE.search(b"bench-upstream"),
    "search_long": lambda: HEADER_VALUE_RE.search(b"73af61b1c7b52bbe458ed332bf07a66f"),
    "lower": lambda: N.lower(),
    "extend": extend,
    "fresh": fresh,
    "loop7": lambda: loop(fresh()),
    "memo7": lambda: memo(fresh()),
}
