"""Drive a server under callgrind: warm up, then per kind zero -> N requests -> dump; plus an idle dump.
SDKHDRS=1 sends the OpenAI Python SDK's request headers (16 in all) instead of http.client's four."""
import http.client, json, subprocess, sys, time, os
sys.path.insert(0, "/work/main/bench")
import wrk
PORT = int(os.environ.get("PORT", "18481"))
N = int(os.environ.get("N", "300"))
KINDS = os.environ.get("KINDS", "chat,stream,messages,responses").split(",")
pid = int(sys.argv[1])
chat = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16}
BODIES = {
    "chat": ("/v1/chat/completions", json.dumps(chat)),
    "stream": ("/v1/chat/completions", json.dumps({**chat, "model": "bench-model-stream", "stream": True})),
    "messages": ("/v1/messages", json.dumps({"model": "bench-model", "max_tokens": 16, "messages": [{"role": "user", "content": "Say hello"}]})),
    "responses": ("/v1/responses", wrk.responses_request(stream=False)),
    "messages_stream": ("/v1/messages", json.dumps({"model": "bench-model-stream", "max_tokens": 16, "stream": True, "messages": [{"role": "user", "content": "Say hello"}]})),
    "responses_stream": ("/v1/responses", wrk.responses_request(stream=True)),
}
COUNTER = [0]
def wait():
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60); c.request("GET", "/healthz"); c.getresponse().read(); return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("not up")
wait()
conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
def one(kind, retry=True):
    global conn
    if kind == "unique":
        COUNTER[0] += 1
        path, body = "/v1/chat/completions", json.dumps({**chat, "messages": [{"role": "user", "content": f"Say hello {COUNTER[0]}"}]})
    else:
        path, body = BODIES[kind]
    if retry:
        try:
            return one(kind, False)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    hdrs = {"content-type": "application/json", "authorization": os.environ.get("AUTH", "Bearer sk-x")}
    if os.environ.get("SDKHDRS"):
        hdrs.update({"accept": "application/json", "user-agent": "OpenAI/Python 1.99.9", "x-stainless-lang": "python",
                     "x-stainless-package-version": "1.99.9", "x-stainless-os": "Linux", "x-stainless-arch": "x64",
                     "x-stainless-runtime": "CPython", "x-stainless-runtime-version": "3.11.7", "x-stainless-async": "false",
                     "x-stainless-retry-count": "0", "x-stainless-read-timeout": "600", "connection": "keep-alive"})
    conn.request("POST", path, body=body, headers=hdrs)
    r = conn.getresponse(); data = r.read()
    assert r.status == 200, (kind, r.status, data[:300])
    if kind == "stream":
        assert data.count(b"data: ") == 33, data[:300]
    return data
def cg(*args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)
for kind in KINDS:
    for _ in range(40):
        one(kind)
print("warm", flush=True)
t = time.time(); cg("-z")
time.sleep(float(os.environ.get("IDLE", "3")))
cg("-d", "idle"); idle_s = time.time() - t
res = {"idle_s": idle_s}
for kind in KINDS:
    cg("-z"); t = time.time()
    for _ in range(N):
        one(kind)
    cg("-d", kind); res[kind] = time.time() - t
    print(kind, res[kind], flush=True)
json.dump(res, open(os.environ.get("OUT", "/tmp/i19/times.json"), "w"))
