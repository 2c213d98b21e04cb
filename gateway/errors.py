"""One exception tree for everything the gateway can answer with an error.

    GatewayError                      status, OpenAI error type/code/param
     ├── InvalidRequestError          400  the client's request is wrong
     │    ├── BodyTooLargeError       413
     │    └── UnsupportedFeatureError 400  the target's provider cannot do what the request asks
     ├── ModelNotFoundError           404  no route for the requested model
     ├── ResponseNotFoundError        404  no stored response with that id (for this key)
     ├── AuthenticationError          401  no gateway key, or one the gateway does not know
     ├── ModelNotAllowedError         403  the key may not call this model
     ├── RateLimitedError             429  over a key's or a route's rpm, tpm or max_concurrent
     │    └── BudgetExceededError     429  the key's spend in the period reached its budget
     ├── LimitsUnavailableError       503  limits cannot be checked (Redis down, on_backend_error = "closed")
     └── UpstreamError                     an upstream attempt failed
          ├── UpstreamStatusError          it answered with an HTTP error (status passed through)
          ├── UpstreamTimeoutError    504  it did not answer in time
          ├── UpstreamUnreachableError 502 no connection could be made
          ├── UpstreamConnectionError 502  the connection broke during the response
          ├── UpstreamStreamError     502  a stream carried an error event
          └── UpstreamProtocolError   502  the response was not what the API promises

Every error renders as OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so SDKs raise
their usual exceptions; `headers` go out with it (Retry-After, the x-ratelimit-* headers). `retryable`
marks the upstream failures that the dispatcher may take to another target: connection problems,
timeouts, 408, 409, 429 and 5xx.
"""

from __future__ import annotations

import math
from typing import Any

RETRYABLE_STATUSES = frozenset({408, 409, 429})


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None
    refusal: str | None = None  # the gateway refused the request itself: why, for telemetry (see events.py)

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers: dict[str, str] = {}
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class BodyTooLargeError(InvalidRequestError):
    status = 413
    code = "request_too_large"


class UnsupportedFeatureError(InvalidRequestError):
    """Raised by a provider's translation: the request asks for something that provider cannot do
    (embeddings on Anthropic, say). The message names the provider and the feature."""

    code = "unsupported_feature"


class ModelNotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class ResponseNotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "response_not_found"


class AuthenticationError(GatewayError):
    status = 401
    type = "invalid_request_error"  # what OpenAI answers for a bad key
    code = "invalid_api_key"
    refusal = "invalid_api_key"


class ModelNotAllowedError(GatewayError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"
    refusal = "model_not_allowed"


class RateLimitedError(GatewayError):
    """Refused by a limit. `type` is OpenAI's "requests" or "tokens"; `reason` names the limit (rpm, tpm,
    max_concurrent, budget), kept as `refusal` for telemetry."""

    status = 429
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, type: str, reason: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.type, self.refusal = type, reason
        if retry_after is not None:
            self.headers["retry-after"] = str(max(1, math.ceil(retry_after)))
            self.headers["retry-after-ms"] = str(max(1, math.ceil(retry_after * 1000)))
        else:
            self.headers["x-should-retry"] = "false"  # the SDKs' own retries would only be refused again


class BudgetExceededError(RateLimitedError):
    code = "budget_exceeded"

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, type="insufficient_quota", reason="budget", retry_after=retry_after)
        self.headers["x-should-retry"] = "false"  # not before the period resets: the SDKs should not try again


class LimitsUnavailableError(GatewayError):
    status = 503
    code = "limits_unavailable"
    refusal = "limits_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers["retry-after"] = "1"


class UpstreamError(GatewayError):
    """An upstream attempt failed. `provider` names the configured provider that failed."""

    status = 502
    type = "upstream_error"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.provider = provider
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        """Low-cardinality name of the failure, for `error.type` and logs."""
        return "upstream_error"


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP error; its status and error body reach the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        provider: str = "",
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, param=param, code=code, retry_after=retry_after)
        self.status = status
        self.type = type or _default_type(status)
        self.retryable = status in RETRYABLE_STATUSES or status >= 500
        self.reason = _reason(status, code, message)

    @property
    def kind(self) -> str:
        return str(self.status)


class UpstreamTimeoutError(UpstreamError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"

    @property
    def kind(self) -> str:
        return "timeout"


class UpstreamUnreachableError(UpstreamError):
    code = "upstream_unreachable"

    @property
    def kind(self) -> str:
        return "connect_error"


class UpstreamConnectionError(UpstreamError):
    code = "upstream_connection_error"

    @property
    def kind(self) -> str:
        return "connection_error"


class UpstreamStreamError(UpstreamError):
    """The upstream sent an error event in the middle of a stream."""

    code = "upstream_stream_error"

    @classmethod
    def from_event(cls, error: Any, provider: str) -> UpstreamStreamError:
        message = error.get("message") if isinstance(error, dict) else error
        return cls(f"provider {provider} failed during the stream: {message}", provider=provider)

    @property
    def kind(self) -> str:
        return "stream_error"


class UpstreamProtocolError(UpstreamError):
    code = "upstream_protocol_error"

    @property
    def kind(self) -> str:
        return "protocol_error"


def _reason(status: int, code: str | None, message: str) -> str | None:
    """Errors that change where a request may go: `context_window` (the prompt is too long for this
    model: only a model with a larger window helps) and `content_policy` (never retried on the model)."""
    if status not in (400, 413, 422):
        return None
    text = f"{code or ''} {message}".lower()
    if any(s in text for s in ("context_length", "context window", "maximum context", "too many tokens",
                               "prompt is too long", "input is too long", "reduce the length")):
        return "context_window"
    if any(s in text for s in ("content_policy", "content_filter", "content management policy", "safety")):
        return "content_policy"
    return None


def _default_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status < 500:
        return "invalid_request_error"
    return "server_error"


def scrub(text: str, secrets: list[str]) -> str:
    """Remove every configured secret from a message before it leaves the gateway."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text
