"""The answer side of the Responses entrance: a chat completion as a `response` object, and chat chunks as the
Responses event stream. Split from `responses.py` (the request side) at the `response` object both build.

Ids are functions of the response id, so a stored response, its stream and a test all agree:

    >>> to_response({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]},
    ...             {"model": "m", "input": "?"}, "resp_1", 0)["output"][0]["id"]
    'msg_1'
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from gateway.sse import Frames, SSEDecoder

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}  # finish_reason -> reason
ERROR_CODES = frozenset({"server_error", "rate_limit_exceeded", "invalid_prompt"})  # of the API's closed list
RATE_LIMITED = frozenset({"rate_limit_exceeded", "rate_limit_error", "requests", "tokens"})


def to_response(completion: dict[str, Any], request: dict[str, Any], response_id: str,
                created_at: int) -> dict[str, Any]:
    """A `chat.completion` as a `response` object, with the request's settings echoed as the API does."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    finish = choice.get("finish_reason")
    reason = INCOMPLETE.get(finish) if isinstance(finish, str) else None
    status = "incomplete" if reason else "completed"
    suffix = response_id.removeprefix("resp_")
    calls = message.get("tool_calls") or []
    content: list[dict[str, Any]] = []
    if message.get("content") or not (calls or message.get("refusal")):
        content.append({"type": "output_text", "text": message.get("content") or "", "annotations": []})
    if message.get("refusal"):
        content.append({"type": "refusal", "refusal": message["refusal"]})
    output: list[dict[str, Any]] = []
    if content:
        output.append({"type": "message", "id": f"msg_{suffix}", "status": status, "role": "assistant",
                       "content": content})
    for n, call in enumerate(calls):
        function = call.get("function") or {}
        output.append({"type": "function_call", "id": f"fc_{suffix}_{n}", "call_id": call.get("id") or f"call_{n}",
                       "name": function.get("name") or "", "arguments": function.get("arguments") or "",
                       "status": status})
    response = _skeleton(request, response_id, created_at)
    response.update(output=output, usage=to_response_usage(completion.get("usage")))
    _conclude(response, reason)
    return response


def to_response_usage(usage: Any) -> dict[str, Any] | None:
    """Chat usage in Responses terms; `input_tokens` counts cached tokens too, as `prompt_tokens` does."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    return {"input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": details.get("cached_tokens") or 0,
                                     "cache_write_tokens": details.get("cache_creation_tokens") or 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens":
                                      (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0},
            "total_tokens": usage.get("total_tokens") or prompt + completion}


def _skeleton(request: dict[str, Any], response_id: str, created_at: int) -> dict[str, Any]:
    """The response object before any output: the request's settings echoed, the defaults the API reports."""
    text = dict(request.get("text") or {})
    text["format"] = text.get("format") or {"type": "text"}
    reasoning = request.get("reasoning") or {}
    # _SKELETON's copy, its fields set in place (they keep its order): a copy is a tenth of a dict display's cost
    response = _SKELETON.copy()
    response["id"], response["created_at"] = response_id, created_at
    for name in request:  # (the fields given: the others are None in _SKELETON, as request.get gives them)
        if name in _ECHOED:
            response[name] = request[name]
    response["output"] = []
    response["parallel_tool_calls"] = request.get("parallel_tool_calls") is not False
    response["reasoning"] = {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}
    response["store"] = request.get("store") is not False
    response["text"] = text
    response["tool_choice"] = request.get("tool_choice") or "auto"
    response["tools"] = request.get("tools") or []
    response["truncation"] = request.get("truncation") or "disabled"
    response["metadata"] = request.get("metadata") or {}
    return response


# The response object's fields in their order, with the values that do not depend on the request (None where they
# do: `_skeleton` sets those), and the fields echoed from the request as they are
_SKELETON: dict[str, Any] = {
    "id": None, "object": "response", "created_at": None, "status": "in_progress", "background": False, "error": None,
    "incomplete_details": None, "instructions": None, "max_output_tokens": None, "max_tool_calls": None, "model": None,
    "output": None, "parallel_tool_calls": None, "previous_response_id": None, "reasoning": None,
    "service_tier": None, "store": None, "temperature": None, "text": None, "tool_choice": None, "tools": None,
    "top_p": None, "truncation": None, "usage": None, "user": None, "metadata": None,
}
_ECHOED = frozenset({"instructions", "max_output_tokens", "max_tool_calls", "model", "previous_response_id",
                     "service_tier", "temperature", "top_p", "user"})


def _conclude(response: dict[str, Any], reason: str | None) -> None:
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None


def _error(error: Any) -> dict[str, Any]:
    """An OpenAI error body's inner object as the Responses `error`, whose `code` is from a closed list."""
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    if code not in ERROR_CODES:
        code = "rate_limit_exceeded" if code in RATE_LIMITED or error.get("type") in RATE_LIMITED else "server_error"
    return {"code": code, "message": str(error.get("message") or "The upstream failed.")}


# -- stream: chat chunks -> Responses events --------------------------------------------------------


async def to_response_events(chunks: AsyncIterator[bytes], request: dict[str, Any], response_id: str,
                             created_at: int, done: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
                             ) -> AsyncIterator[bytes]:
    """The gateway's chat SSE as the Responses event stream, from response.created to response.completed
    (or .incomplete), or response.failed for an error event or a stream cut before `[DONE]`.

    `await done(response)` runs once for a stream that ends normally, before its last event goes out, so the
    response is stored by the time the client can ask to continue it. `chunks` is closed at the end."""
    decoder, state = SSEDecoder(), ResponseEvents(request, response_id, created_at)
    # response.created and .in_progress go out with the first chunk's events, in one write: the chat stream's
    # first chunk is already there (the gateway waits for it before answering, to fail over unseen).
    out = state.start()
    try:
        async for raw in chunks:
            if type(raw) is Frames and decoder.idle:  # chunks parsed already (the gateway's own stream)
                for chunk in raw.parsed:
                    out += _relay_chunk(state, chunk)
                    if state.ended:
                        break
            else:
                for data in _payloads(decoder, raw):
                    out += _relay(state, data)
                    if state.ended:
                        break
            if state.ended:
                if state.completed and done is not None:
                    await done(state.response)
                yield out
                return
            if out:
                yield out
                out = b""
        out += b"".join(_relay(state, event.data) for event in decoder.close() if not state.ended)
        if state.completed and done is not None:
            await done(state.response)
        if not state.ended:
            out += state.fail({"message": "The upstream stream ended before it was complete."})
        yield out
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def _payloads(decoder: SSEDecoder, raw: bytes) -> list[bytes]:
    """The events' data (the gateway's own chat stream frames every event as `data: <json>\n\n`: cut apart
    directly, `feed_data`; anything else goes through the SSE decoder)."""
    data = decoder.feed_data(raw)
    return data if data is not None else [event.data for event in decoder.feed(raw)]


def _relay(state: ResponseEvents, data: bytes) -> bytes:
    if data == b"[DONE]":
        return state.finish()
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return state.fail({"message": "The upstream sent an event that is not JSON."})
    if not isinstance(chunk, dict):
        return state.fail({"message": "The upstream sent an event that is not an object."})
    return _relay_chunk(state, chunk)


def _relay_chunk(state: ResponseEvents, chunk: dict[str, Any] | str) -> bytes:
    if isinstance(chunk, str):  # a text chunk (see sse.Frames): its text alone
        return state.text(chunk) if chunk else b""
    if "error" in chunk:
        return state.fail(chunk["error"])
    return state.feed(chunk)


class ResponseEvents:
    """One stream's translation: chat chunk payloads in, Responses SSE events out.

    Text opens a message item with an output_text part (a refusal, a refusal part); the first tool call
    closes that message, and each chat tool index becomes a function_call item, kept open until the end because
    indices may interleave. `response` is the object as it stands, complete after `finish` or `fail`."""

    def __init__(self, request: dict[str, Any], response_id: str, created_at: int) -> None:
        self.response = _skeleton(request, response_id, created_at)
        self.suffix = response_id.removeprefix("resp_")
        self.sequence = 0
        self.ended = False
        self.completed = False  # ended as completed or incomplete: a response to keep
        self.message: int | None = None  # output index of the open message item
        self.messages = 0
        self.parts: dict[str, int] = {}  # part type -> content index, in the open message
        self.calls: dict[int, int] = {}  # chat tool index -> output index
        self.finish_reason: str | None = None
        self.usage: Any = None
        # The open output_text part and what each of its deltas starts with up to the sequence number and
        # between that and the delta (`_text`'s fast path: most events of a stream are these)
        self.text_part: dict[str, Any] | None = None
        self.text_head = self.text_middle = b""

    def start(self) -> bytes:
        return self._emit("response.created", response=self.response) + self._emit(
            "response.in_progress", response=self.response)

    def feed(self, chunk: dict[str, Any]) -> bytes:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        out = b""
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if text := delta.get("content"):
                out += self.text(text)
            if delta.get("refusal"):
                out += self._text("refusal", delta["refusal"])
            for call in delta.get("tool_calls") or ():
                out += self._call(call)
            if isinstance(finish := choice.get("finish_reason"), str):
                self.finish_reason = finish
        return out

    def text(self, text: Any) -> bytes:
        """The events of more text (a chunk's `delta.content`, not empty)."""
        part = self.text_part
        if part is None:
            return self._text("output_text", text)
        # the usual event: more text for the open part
        part["text"] += text
        sequence = self.sequence
        self.sequence = sequence + 1
        return b'%b%d%b%b,"logprobs":[]}\n\n' % (self.text_head, sequence, self.text_middle, orjson.dumps(text))

    def finish(self) -> bytes:
        if self.ended:
            return b""
        reason = INCOMPLETE.get(self.finish_reason or "")
        status = "incomplete" if reason else "completed"
        out = self._text("output_text", "") if not self.response["output"] else b""  # as to_response does
        out += self._close_message(status)
        for index in sorted(self.calls.values()):
            item = self.response["output"][index]
            item["status"] = status
            out += self._emit("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                              arguments=item["arguments"])
            out += self._emit("response.output_item.done", output_index=index, item=item)
        self.calls = {}
        self.response["usage"] = to_response_usage(self.usage)
        _conclude(self.response, reason)
        self.ended = self.completed = True
        kind = "response.incomplete" if reason else "response.completed"
        return out + self._emit(kind, response=self.response)

    def fail(self, error: dict[str, Any]) -> bytes:
        if self.ended:
            return b""
        self.ended = True
        for item in self.response["output"]:
            if item["status"] == "in_progress":
                item["status"] = "incomplete"
        self.response.update(status="failed", error=_error(error), usage=to_response_usage(self.usage))
        return self._emit("response.failed", response=self.response)

    def _text(self, kind: str, delta: str) -> bytes:
        out = b""
        if self.message is None:
            self.message = len(self.response["output"])
            item_id = f"msg_{self.suffix}" + (f"_{self.messages}" if self.messages else "")
            self.messages += 1
            item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}
            self.response["output"].append(item)
            out += self._emit("response.output_item.added", output_index=self.message, item=item)
        item = self.response["output"][self.message]
        where = {"item_id": item["id"], "output_index": self.message}
        if kind not in self.parts:
            self.parts[kind] = len(item["content"])
            empty = {"type": "output_text", "text": "", "annotations": []} if kind == "output_text" else {
                "type": "refusal", "refusal": ""}
            item["content"].append(empty)
            out += self._emit("response.content_part.added", **where, content_index=self.parts[kind], part=empty)
            if kind == "output_text":  # as _emit would write a delta for this part
                self.text_part = empty
                self.text_head = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",' \
                                 b'"sequence_number":'
                self.text_middle = b"," + orjson.dumps({**where, "content_index": self.parts[kind]})[1:-1] + \
                    b',"delta":'

        if not delta:
            return out
        part = item["content"][self.parts[kind]]
        if kind == "output_text":
            part["text"] += delta
            return out + self._emit("response.output_text.delta", **where, content_index=self.parts[kind],
                                    delta=delta, logprobs=[])
        part["refusal"] += delta
        return out + self._emit("response.refusal.delta", **where, content_index=self.parts[kind], delta=delta)

    def _close_message(self, status: str) -> bytes:
        if self.message is None:
            return b""
        index, item, out = self.message, self.response["output"][self.message], b""
        where = {"item_id": item["id"], "output_index": index}
        for j, part in enumerate(item["content"]):
            if part["type"] == "output_text":
                out += self._emit("response.output_text.done", **where, content_index=j, text=part["text"],
                                  logprobs=[])
            else:
                out += self._emit("response.refusal.done", **where, content_index=j, refusal=part["refusal"])
            out += self._emit("response.content_part.done", **where, content_index=j, part=part)
        item["status"] = status
        self.message, self.parts, self.text_part = None, {}, None
        return out + self._emit("response.output_item.done", output_index=index, item=item)

    def _call(self, call: dict[str, Any]) -> bytes:
        index, function, out = call.get("index", 0), call.get("function") or {}, b""
        if index not in self.calls:
            out += self._close_message("completed")
            self.calls[index] = len(self.response["output"])
            item = {"type": "function_call", "id": f"fc_{self.suffix}_{index}",
                    "call_id": call.get("id") or f"call_{index}", "name": function.get("name") or "",
                    "arguments": "", "status": "in_progress"}
            self.response["output"].append(item)
            out += self._emit("response.output_item.added", output_index=self.calls[index], item=item)
        item = self.response["output"][self.calls[index]]
        item["name"] = item["name"] or function.get("name") or ""
        if function.get("arguments"):
            item["arguments"] += function["arguments"]
            out += self._emit("response.function_call_arguments.delta", item_id=item["id"],
                              output_index=self.calls[index], delta=function["arguments"])
        return out

    def _emit(self, kind: str, **data: Any) -> bytes:
        """One event, serialized now: the items it carries keep changing afterwards."""
        payload = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
