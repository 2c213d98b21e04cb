"""What the live page's JSON says: pure functions from what the recorder keeps (and the running config) to
plain dicts. No I/O; the endpoints serialise them and scrub every configured secret from the bytes."""

from __future__ import annotations

from typing import Any

from gateway.config import GatewayConfig
from gateway.ui.recorder import AttemptEntry, RequestEntry

REDACTED = "[redacted]"
SECRET_FIELDS = frozenset({"api_key", "key", "key_sha256", "password"})
_URL_FIELDS = frozenset({"redis_url", "base_url", "otlp_endpoint"})


def request_row(entry: RequestEntry) -> dict[str, Any]:
    """One line of the requests table."""
    answered = entry.answered_by
    ttft = _first_content(entry)
    return {
        "seq": entry.seq,
        "id": entry.request_id,
        "time": round(entry.finished_at, 3),
        "key": entry.key_name,
        "route": entry.route or None,
        "operation": entry.operation,
        "stream": entry.stream,
        "target": answered.target if answered is not None else None,
        "status": entry.status,
        "error": entry.error,
        "latency_ms": _ms(entry.finished - entry.started),
        "ttft_ms": _ms(ttft - entry.started) if ttft is not None else None,
        "input_tokens": entry.input_tokens,
        "output_tokens": entry.output_tokens,
        "cost_usd": None if entry.cost_usd is None else round(entry.cost_usd, 9),
        "cache": entry.cache,
        "attempts": len(entry.attempts),
        "trace_id": entry.trace_id,
    }


def timeline(entry: RequestEntry) -> list[dict[str, Any]]:
    """Each upstream attempt of a request, in order, with why it was made (first, retry, failover, fallback,
    stream resumed) and its times relative to the request's arrival."""
    steps = []
    for index, attempt in enumerate(entry.attempts):
        ended = attempt.ended if attempt.ended is not None else entry.finished
        steps.append({
            "number": attempt.number,
            "route": attempt.route,
            "target": attempt.target,
            "why": why(entry, index),
            "backoff_ms": _ms(attempt.backoff_s),
            "start_ms": _ms(attempt.started - entry.started),
            "duration_ms": _ms(ended - attempt.started),
            "ttft_ms": _ms(attempt.first_chunk_at - attempt.started) if attempt.first_chunk_at is not None else None,
            "outcome": attempt.outcome,
            "status": attempt.status,
            "error": attempt.error,
            "input_tokens": attempt.input_tokens,
            "output_tokens": attempt.output_tokens,
            "cost_usd": None if attempt.cost_usd is None else round(attempt.cost_usd, 9),
        })
    return steps


def why(entry: RequestEntry, index: int) -> str:
    """The reason the request's attempt `index` was made, in the failover vocabulary of README.md."""
    attempt = entry.attempts[index]
    if index == 0:
        if attempt.route != entry.route:
            return f"fallback to route {attempt.route}: every target of {entry.route} was cooling down"
        return "first attempt"
    previous = entry.attempts[index - 1]
    failure = describe(previous)
    waited = f", after waiting {attempt.backoff_s:.2f} s" if attempt.backoff_s else ""
    if entry.stream and previous.outcome == "error" and previous.first_chunk_at is not None:
        return f"stream resumed: the answer from {previous.target} was cut mid-way ({failure}){waited}"
    if attempt.route != previous.route:
        return f"fallback to route {attempt.route} after {failure} from {previous.target}{waited}"
    earlier = [a for a in entry.attempts[:index] if a.target == attempt.target]
    if earlier:
        return f"retry of {attempt.target} (it failed earlier with {describe(earlier[-1])}){waited}"
    return f"failover from {previous.target} after {failure}{waited}"


def describe(attempt: AttemptEntry) -> str:
    if attempt.outcome == "ok":
        return "success"
    error = attempt.error or attempt.outcome
    if attempt.status is not None and str(attempt.status) != error:
        return f"{error} (HTTP {attempt.status})"
    return error


def detail(entry: RequestEntry, trace_url: str | None) -> dict[str, Any]:
    """The click-through: the row, its attempt timeline, and the trace (with a link when `[ui] trace_url`)."""
    found = request_row(entry)
    found["timeline"] = timeline(entry)
    found["trace_url"] = trace_url.replace("{trace_id}", entry.trace_id) if trace_url and entry.trace_id else None
    return found


def redacted_config(config: GatewayConfig) -> dict[str, Any]:
    """The running config as JSON with every secret replaced: keys, API keys and their hashes, secret-looking
    headers (every OTLP header), passwords in URLs. The endpoint scrubs the configured secrets' values from
    the bytes as well, wherever else they might appear."""
    dumped: dict[str, Any] = config.model_dump(mode="json")
    return {"source": config.source, **_redact(dumped, "")}


def _redact(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        if name == "otlp_headers":
            return {k: REDACTED for k in value}
        if name == "headers":
            return {k: REDACTED if _secret_name(k) else v for k, v in value.items()}
        return {k: _redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, name) for v in value]
    if isinstance(value, str) and value:
        if name in SECRET_FIELDS:
            return REDACTED
        if name in _URL_FIELDS or "://" in value:
            return _without_password(value)
    return value


def _without_password(url: str) -> str:
    """redis://user:secret@host -> redis://user:[redacted]@host (and any user:password@ in a URL)."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':' + REDACTED if colon else ''}@{host}" if colon else f"{scheme}://{REDACTED}@{host}"


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in ("key", "auth", "token", "secret", "password", "cookie"))


def _first_content(entry: RequestEntry) -> float | None:
    if not entry.stream:
        return None
    return next((a.first_chunk_at for a in entry.attempts if a.first_chunk_at is not None), None)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
