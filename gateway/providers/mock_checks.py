"""The mock provider's request checks: the 400s OpenAI's API gives for a malformed request, word for word.

    >>> try:
    ...     check("chat", {"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})
    ... except Rejected as exc:
    ...     print(exc.param, exc.code, exc.message)
    temperature invalid_type Invalid type for 'temperature': expected a decimal, but got a string instead.

Only the checks a client is likely to trip over: the types and ranges of the sampling parameters, message
roles, response_format and tool_choice. `None` is "not given", as it is for OpenAI.
"""

from __future__ import annotations

import json
from typing import Any

# Parameter -> (type, minimum, maximum), as OpenAI's API checks them; None is "not given" there too.
PARAMETERS: dict[str, tuple[str, float | None, float | None]] = {
    "temperature": ("decimal", 0, 2),
    "top_p": ("decimal", 0, 1),
    "frequency_penalty": ("decimal", -2, 2),
    "presence_penalty": ("decimal", -2, 2),
    "n": ("integer", 1, 128),
    "max_tokens": ("integer", 1, None),
    "max_completion_tokens": ("integer", 1, None),
    "seed": ("integer", None, None),
    "top_logprobs": ("integer", 0, 20),
    "stream": ("boolean", None, None),
    "logprobs": ("boolean", None, None),
    "parallel_tool_calls": ("boolean", None, None),
}
TEXT_PARAMETERS = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "n", "max_tokens", "seed",
                   "stream")  # /v1/completions: its `logprobs` is a number, the rest are chat-only
JSON_TYPES = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string", list: "an array",
              dict: "an object", type(None): "null"}
ROLES = ("system", "assistant", "user", "function", "tool", "developer")  # in the order OpenAI lists them


class Rejected(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value") -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def check(kind: str, body: dict[str, Any]) -> None:
    """Raise `Rejected` with the message, param and code OpenAI's API gives for the first problem."""
    for name in PARAMETERS if kind == "chat" else TEXT_PARAMETERS:
        if body.get(name) is not None:
            _check_value(name, body[name], *PARAMETERS[name])
    if kind == "chat":
        _check_messages(body.get("messages"))
        _check_response_format(body.get("response_format"))
        _check_tool_choice(body)


def _check_value(name: str, value: Any, kind: str, low: float | None, high: float | None) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {"decimal": number, "integer": number and float(value).is_integer(), "boolean": isinstance(value, bool)}
    if not fits[kind]:
        article = "an" if kind == "integer" else "a"
        raise Rejected(f"Invalid type for '{name}': expected {article} {kind}, but got {_json_type(value)} instead.",
                       name, "invalid_type")
    if high is not None and value > high:
        raise Rejected(f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high:g}, but got "
                       f"{value} instead.", name, f"{kind}_above_max_value")
    if low is not None and value < low:
        raise Rejected(f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low:g}, but got "
                       f"{value} instead.", name, f"{kind}_below_min_value")


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise Rejected("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise Rejected(f"Invalid type for 'messages': expected an array, but got {_json_type(messages)} instead.",
                       "messages", "invalid_type")
    if not messages:
        raise Rejected("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
                       "array instead.", "messages", "empty_array")
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise Rejected(f"Invalid type for '{param}': expected an object, but got {_json_type(message)} instead.",
                           param, "invalid_type")
        if message.get("role") is None:
            raise Rejected(f"Missing required parameter: '{param}.role'.", f"{param}.role",
                           "missing_required_parameter")
        if message["role"] not in ROLES:
            raise Rejected(f"Invalid value: {_quoted(message['role'])}. Supported values are: {_listed(ROLES)}.",
                           f"{param}.role")


def _check_response_format(fmt: Any) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise Rejected(f"Invalid type for 'response_format': expected an object, but got {_json_type(fmt)} "
                       "instead.", "response_format", "invalid_type")
    kinds = ("text", "json_object", "json_schema")
    if fmt.get("type") is None:
        raise Rejected("Missing required parameter: 'response_format.type'.", "response_format.type",
                       "missing_required_parameter")
    if fmt["type"] not in kinds:
        raise Rejected(f"Invalid value: {_quoted(fmt['type'])}. Supported values are: {_listed(kinds)}.",
                       "response_format.type")
    if fmt["type"] == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
        raise Rejected("Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema",
                       "missing_required_parameter")


def _check_tool_choice(body: dict[str, Any]) -> None:
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto"):
        return
    if isinstance(choice, str) and choice != "required":
        raise Rejected(f"Invalid value: {_quoted(choice)}. Supported values are: 'none', 'auto', and 'required'.",
                       "tool_choice")
    tools = tools_offered(body)
    if not tools:
        raise Rejected("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                       "tool_choice", None)
    name = function_name(choice)
    if isinstance(choice, dict) and name not in [t.get("name") for t in tools]:
        raise Rejected(f"Invalid value for 'tool_choice': no function named {_quoted(name)} is in 'tools'.",
                       "tool_choice.function.name")


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), "an unknown type")


def _quoted(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _listed(values: tuple[str, ...]) -> str:
    """'a', 'b', and 'c', as OpenAI's messages list choices."""
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def tools_offered(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The functions offered."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]


def function_name(call: Any) -> Any:
    """The function name in a tool call or a named tool_choice."""
    function = call.get("function") if isinstance(call, dict) else None
    return function.get("name") if isinstance(function, dict) else None
