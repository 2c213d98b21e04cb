"""Instructions per call of an OpenAI answer's parse, shape check and facts, piece by piece: `mb.sh /tmp/i19/mb_fr.py`."""
import orjson
from gateway.config import ProviderConfig
from gateway.providers.openai import OpenAIProvider, well_formed
from gateway.providers.base import Call, Facts, Reply
body = b'{"id":"chatcmpl-bench0000000000000000000001","object":"chat.completion","created":1732500000,"model":"bench-upstream-model","system_fingerprint":"fp_bench01","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today? This is a static answer from the benchmark upstream.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":19,"total_tokens":28}}'
p = OpenAIProvider(ProviderConfig(name="x", type="openai", base_url="http://127.0.0.1:1/v1"))
call = Call("chat", {"model": "m", "messages": []})
data = orjson.loads(body)
K = 500
def nothing(): pass
def loads(): orjson.loads(body)
def wf(): well_formed(data, "message")
def facts(): Facts()
def fr(): p.from_response(call, body)
def usage(): Facts().read_usage(data["usage"])
CASES = {"nothing": nothing, "loads": loads, "well_formed": wf, "Facts()": facts, "from_response": fr, "Facts+usage": usage}
