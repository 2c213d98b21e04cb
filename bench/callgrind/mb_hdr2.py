"""uvicorn's response-head loop over a chat answer's 7 headers (loop7) against other ways to check them: bytes.translate
(slower: it builds its table per call) and remembered names and values (memo7, what gateway/response_head.py does).
`mb.sh /tmp/i19/mb_hdr2.py` (stop 31)."""
import re
HEADER_RE = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
HEADER_VALUE_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
K = 1000
G = [(b"date", b"Sat, 05 Dec 2026 08:29:18 GMT"), (b"content-length", b"434"), (b"content-type", b"application/json"), (b"x-gateway-attempts", b"1"),
     (b"x-gateway-cache", b"bypass"), (b"x-gateway-provider", b"bench-upstream"), (b"x-request-id", b"73af61b1c7b52bbe458ed332bf07a66f")]
B = G[:3]
NAME_OK = bytes(c for c in range(256) if not HEADER_RE.search(bytes([c])))
VALUE_OK = bytes(c for c in range(256) if not HEADER_VALUE_RE.search(bytes([c])))
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
def tr(headers):
    content = [b"HTTP/1.1 200 OK\r\n"]
    for name, value in headers:
        if name.translate(None, NAME_OK) or value.translate(None, VALUE_OK):
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
def tr2(headers):
    content = [b"HTTP/1.1 200 OK\r\n"]
    for name, value in headers:
        if name.translate(None, NAME_OK) or value.translate(None, VALUE_OK):
            raise RuntimeError
        name = name.lower()
        if name == b"content-length":
            pass
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            pass
        elif name == b"connection":
            pass
        content += (name, b": ", value, b"\r\n")
    return b"".join(content)
def nothing(): pass
CASES = {"nothing": nothing, "loop7": lambda: loop(G), "loop3": lambda: loop(B), "tr7": lambda: tr(G), "tr3": lambda: tr(B), "tr2_7": lambda: tr2(G)}
NAMES, VALUES = set(), set()
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
        elif name == b"connection":
            pass
        content.extend([name, b": ", value, b"\r\n"])
    return b"".join(content)
def memo_fmt(headers):
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
        elif name == b"connection":
            pass
        content.append(name + b": " + value + b"\r\n")
    return b"".join(content)
G2 = [(n, bytes(v)) for n, v in G]  # fresh value objects (no cached hash)
def fresh(): return [(n, bytes(bytearray(v))) for n, v in G]
def fresh_only(): fresh()
CASES = {"nothing": nothing, "loop7": lambda: loop(fresh()), "memo7": lambda: memo(fresh()), "memo_fmt7": lambda: memo_fmt(fresh()), "fresh": fresh_only}
