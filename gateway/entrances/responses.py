"""`POST /v1/responses`: the OpenAI Responses API as an entrance, translated to and from Chat Completions.

A Responses request becomes a chat body that goes down the ordinary chat path, so any provider can answer it;
the chat answer, JSON or SSE, comes back as a `response` object or the Responses event stream
(`responses_stream.py`). Everything here is pure: dicts and bytes in, dicts and bytes out. The conversation
kept for `previous_response_id` is chat messages: `input_messages` and `output_messages` make them, and
`to_chat` puts them after `instructions` and before the new input.

    >>> to_chat({"model": "m", "instructions": "Be brief.", "input": "hi"})["messages"]
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'hi'}]

What chat cannot express is a 400 naming the field before anything is sent (see `unsupported`): built-in and
custom tools, `background`, `conversation`, `prompt`, `truncation: "auto"`, logprobs, file inputs and
`file_id` images, item types other than messages, `function_call` and `function_call_output`.
"""

from __future__ import annotations

from typing import Any

from gateway.entrances.responses_stream import ResponseEvents, to_response, to_response_events, to_response_usage
from gateway.errors import InvalidRequestError

__all__ = ["ResponseEvents", "input_messages", "output_messages", "to_chat", "to_response", "to_response_events",
           "to_response_usage", "unsupported"]

ROLES = ("user", "assistant", "system", "developer")
# Same meaning on both sides. `max_output_tokens` counts reasoning tokens as `max_completion_tokens` does;
# OpenAI's reasoning models refuse `max_tokens`, and every provider translation here reads the former.
RENAMED = {"model": "model", "temperature": "temperature", "top_p": "top_p",
           "max_output_tokens": "max_completion_tokens", "parallel_tool_calls": "parallel_tool_calls",
           "user": "user", "stream": "stream",
           "service_tier": "service_tier", "prompt_cache_key": "prompt_cache_key",
           "prompt_cache_retention": "prompt_cache_retention", "safety_identifier": "safety_identifier"}
# Read by hand below, or only echoed in the response: `metadata` and `store` stay here (chat's `metadata` needs
# chat's `store`, which would keep the completion at OpenAI), `previous_response_id` is the handler's,
# `max_tool_calls` limits built-in tools only, and `stream_options` (include_obfuscation) has nothing to pad.
OWN = frozenset({"input", "instructions", "tools", "tool_choice", "text", "reasoning", "metadata", "store",
                 "previous_response_id", "include", "truncation", "background", "stream_options", "max_tool_calls"})
FEATURES = {"conversation": "conversations (use previous_response_id)", "prompt": "reusable prompts",
            "top_logprobs": "logprobs", "context_management": "context management (compaction)"}
# Nothing to add for these: this gateway never outputs reasoning items and keeps no input item list.
INCLUDABLE = frozenset({"reasoning.encrypted_content", "message.input_image.image_url"})
TOOL_FIELDS = frozenset({"type", "name", "description", "parameters", "strict"})
REASONING_FIELDS = frozenset({"effort", "summary", "generate_summary"})  # no summary comes back from chat
DETAILS = {"low": "low", "high": "high", "auto": "auto", "original": "high"}


# -- request: Responses -> chat ---------------------------------------------------------------------


def to_chat(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Responses request as a chat body; `history` (chat messages) goes between `instructions` and `input`.

    Raises InvalidRequestError naming the field. Pure and idempotent, so it can run again on a retry."""
    try:
        return _to_chat(body, history or [])
    except (AttributeError, KeyError, TypeError) as exc:  # an item or a tool that is not an object, say
        raise InvalidRequestError(f"The request does not follow the Responses API ({type(exc).__name__}: {exc}).",
                                  param="input") from None


def _to_chat(body: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    unsupported(body)
    out: dict[str, Any] = {theirs: body[ours] for ours, theirs in RENAMED.items() if body.get(ours) is not None}
    if out.get("stream") is True:
        out["stream_options"] = {"include_usage": True}  # response.completed reports usage
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequestError("instructions: expected a string", param="instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    out["messages"] = messages + [dict(m) for m in history] + input_messages(body)
    out.update(_tools(body))
    out.update(_text(body.get("text")))
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None:
        out["reasoning_effort"] = effort
    return out


def unsupported(body: dict[str, Any]) -> None:
    """Raise InvalidRequestError for the first top-level field that Chat Completions cannot carry.

    Tools, items and parts are checked as they are translated. A field set to null counts as absent."""
    for name in ("model", "input"):
        if body.get(name) is None:
            raise InvalidRequestError(f"{name}: Field required", param=name)
    for name, value in body.items():
        if value is not None and name not in RENAMED and name not in OWN:
            what = FEATURES.get(name, f"the parameter '{name}'")
            raise InvalidRequestError(f"{name}: {what} is not supported by this gateway's Responses API", param=name)
    if body.get("background") is True:
        raise InvalidRequestError("background: background responses are not supported by this gateway",
                                  param="background")
    if body.get("truncation") not in (None, "disabled"):
        raise InvalidRequestError("truncation: only 'disabled' is supported; this gateway never drops input items "
                                  "to fit the context window", param="truncation")
    for value in body.get("include") or ():
        if value not in INCLUDABLE:
            raise InvalidRequestError(f"include: '{value}' is not supported by this gateway", param="include")
    extra = sorted(k for k, v in (body.get("reasoning") or {}).items() if v is not None and k not in REASONING_FIELDS)
    if extra:
        raise InvalidRequestError(f"reasoning.{extra[0]}: not supported by this gateway",
                                  param=f"reasoning.{extra[0]}")


def input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """This request's `input` alone as chat messages: what the store keeps to continue the conversation."""
    items = body.get("input")
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise InvalidRequestError("input: expected a string or a list of items", param="input")
    return _messages(items, "input")


def output_messages(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A `response` object's output as chat messages: the assistant turn, its text and tool calls."""
    return _messages(response.get("output") or [], "output")


def _messages(items: list[Any], where: str) -> list[dict[str, Any]]:
    """Items in order; a `function_call` joins the assistant message just before it, as one chat turn."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequestError(f"{at}: expected an object", param=at)
        kind = item.get("type") or "message"  # an "easy" input message has no type
        if kind == "message":
            out.append(_message(item, at))
        elif kind == "function_call":
            call = {"id": _field(item, "call_id", at), "type": "function",
                    "function": {"name": _field(item, "name", at), "arguments": item.get("arguments") or ""}}
            if out and out[-1]["role"] == "assistant":
                out[-1].setdefault("tool_calls", []).append(call)
                if out[-1]["content"] == "":
                    out[-1]["content"] = None
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = _tool_output(item.get("output"), f"{at}.output")
            out.append({"role": "tool", "tool_call_id": _field(item, "call_id", at), "content": output})
        else:
            raise InvalidRequestError(f"{at}.type: items of type '{kind}' are not supported by this gateway",
                                      param=f"{at}.type")
    return out


def _field(item: dict[str, Any], name: str, at: str) -> Any:
    if item.get(name) is None:
        raise InvalidRequestError(f"{at}.{name}: Field required", param=f"{at}.{name}")
    return item[name]


def _message(item: dict[str, Any], at: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ROLES:
        raise InvalidRequestError(f"{at}.role: expected one of {', '.join(ROLES)}", param=f"{at}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequestError(f"{at}.content: expected a string or a list of parts", param=f"{at}.content")
    if role == "assistant":
        return _assistant(content, f"{at}.content")
    parts = [_input_part(part, f"{at}.content[{j}]") for j, part in enumerate(content)]
    if role != "user" and any(part["type"] != "text" for part in parts):  # chat's system messages are text
        raise InvalidRequestError(f"{at}.content: {role} messages take text only", param=f"{at}.content")
    return {"role": role, "content": parts}


def _input_part(part: dict[str, Any], at: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "input_text":
        return {"type": "text", "text": _field(part, "text", at)}
    if kind == "input_image":
        if part.get("file_id") is not None:
            raise InvalidRequestError(f"{at}.file_id: images by file_id are not supported by this gateway (it has "
                                      "no Files API); send image_url", param=f"{at}.file_id")
        image = {"url": _field(part, "image_url", at)}
        if part.get("detail") in DETAILS:
            image["detail"] = DETAILS[part["detail"]]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        raise InvalidRequestError(f"{at}: file inputs (input_file) are not supported by this gateway", param=at)
    raise InvalidRequestError(f"{at}.type: parts of type '{kind}' are not supported here", param=f"{at}.type")


def _assistant(content: list[Any], at: str) -> dict[str, Any]:
    texts: list[str] = []
    refusals: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind in ("output_text", "input_text"):
            texts.append(_field(part, "text", f"{at}[{j}]"))
        elif kind == "refusal":
            refusals.append(_field(part, "refusal", f"{at}[{j}]"))
        else:
            raise InvalidRequestError(f"{at}[{j}].type: assistant messages take output_text and refusal parts",
                                      param=f"{at}[{j}].type")
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if refusals:
        out["refusal"] = "".join(refusals)
        out["content"] = out["content"] or None
    return out


def _tool_output(output: Any, at: str) -> str:
    """Chat's tool messages carry text: a list of parts is joined, and only text parts are taken."""
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        raise InvalidRequestError(f"{at}: expected a string or a list of parts", param=at)
    texts = []
    for j, part in enumerate(output):
        if part.get("type") != "input_text":
            raise InvalidRequestError(f"{at}[{j}].type: function call outputs take text only in this gateway",
                                      param=f"{at}[{j}].type")
        texts.append(_field(part, "text", f"{at}[{j}]"))
    return "".join(texts)


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    """Responses tools are flat, chat's are nested under `function`."""
    out: dict[str, Any] = {}
    if body.get("tools"):
        out["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(body["tools"])]
    choice = body.get("tool_choice")
    if choice in ("auto", "none", "required"):
        out["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out["tool_choice"] = {"type": "function", "function": {"name": _field(choice, "name", "tool_choice")}}
    elif choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else choice
        raise InvalidRequestError(f"tool_choice: '{kind}' is not supported by this gateway; use auto, none, "
                                  "required or a function", param="tool_choice")
    return out


def _tool(tool: dict[str, Any], at: str) -> dict[str, Any]:
    kind = tool.get("type")
    if kind != "function":
        raise InvalidRequestError(f"{at}.type: '{kind}' tools are not supported by this gateway; only function "
                                  "tools are", param=f"{at}.type")
    extra = sorted(k for k, v in tool.items() if v is not None and k not in TOOL_FIELDS)
    if extra:
        raise InvalidRequestError(f"{at}.{extra[0]}: not supported by this gateway", param=f"{at}.{extra[0]}")
    function = {"name": _field(tool, "name", at)}
    function.update({k: tool[k] for k in ("description", "parameters", "strict") if tool.get(k) is not None})
    return {"type": "function", "function": function}


def _text(text: Any) -> dict[str, Any]:
    """`text.format` as chat's `response_format`; plain text is chat's default, so it is left out."""
    text = text or {}
    out: dict[str, Any] = {}
    if text.get("verbosity") is not None:
        out["verbosity"] = text["verbosity"]
    fmt = text.get("format") or {"type": "text"}
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = {"name": _field(fmt, "name", "text.format"), "schema": _field(fmt, "schema", "text.format")}
        schema.update({k: fmt[k] for k in ("description", "strict") if fmt.get(k) is not None})
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif kind == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif kind != "text":
        raise InvalidRequestError(f"text.format.type: '{kind}' is not supported; use text, json_object or "
                                  "json_schema", param="text.format.type")
    return out
