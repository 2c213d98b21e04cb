"""The static upstream: nginx answering POST /v1/chat/completions with a fixed OpenAI-style body.

nginx cannot look inside a request body, so the stream case has its own path:
  POST /v1/chat/completions         -> a chat.completion JSON        (application/json)
  POST /stream/v1/chat/completions  -> chat.completion.chunk SSE     (text/event-stream)
Clients choose by base URL: the gateway has one provider per base URL, the passthrough picks the
stream base when the body says `"stream": true`. Both answers use `return 200 '...'`, since nginx's
static-file module refuses POST with 405.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from procs import Child, free_port, pin_prefix, wait_port

JSON_PATH = "/v1/chat/completions"
STREAM_PATH = "/stream/v1/chat/completions"
# bench/versus.py (issue 19): a 32-event stream, and an Anthropic Messages answer for the bare pass-through
STREAM32_PATH = "/stream32/v1/chat/completions"
MESSAGES_PATH = "/anthropic/v1/messages"
CREATED = 1732500000
UPSTREAM_MODEL = "bench-upstream-model"
ANSWER = "Hello! How can I help you today? This is a static answer from the benchmark upstream."


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def chat_completion_body() -> str:
    """A realistic non-streamed answer, about 450 bytes."""
    return _dumps(
        {
            "id": "chatcmpl-bench0000000000000000000001",
            "object": "chat.completion",
            "created": CREATED,
            "model": UPSTREAM_MODEL,
            "system_fingerprint": "fp_bench01",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 19, "total_tokens": 28},
        }
    )


def _chunk(delta: dict[str, object], finish_reason: str | None) -> str:
    return _dumps(
        {
            "id": "chatcmpl-bench0000000000000000000002",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": UPSTREAM_MODEL,
            "system_fingerprint": "fp_bench01",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
    )


def stream_body() -> str:
    """12 SSE events (a role chunk, 10 content chunks, a finish chunk) and then `data: [DONE]`."""
    pieces = ["Hello!", " How", " can", " I", " help", " you", " today?", " This", " is", " static."]
    events = [_chunk({"role": "assistant", "content": ""}, None)]
    events += [_chunk({"content": piece}, None) for piece in pieces]
    events.append(_chunk({}, "stop"))
    events.append("[DONE]")
    return "".join(f"data: {event}\n\n" for event in events)


def stream32_body() -> str:
    """32 SSE events (a role chunk, 30 content chunks, a finish chunk) and then `data: [DONE]`, about 8 KB."""
    words = ("Hello! How can I help you today? This is a static answer from the benchmark upstream, "
             "thirty pieces long so that the cost of relaying each one of them shows.").split(" ")
    pieces = [word if index == 0 else " " + word for index, word in enumerate(words)]
    assert len(pieces) == 30, len(pieces)
    events = [_chunk({"role": "assistant", "content": ""}, None)]
    events += [_chunk({"content": piece}, None) for piece in pieces]
    events.append(_chunk({}, "stop"))
    events.append("[DONE]")
    return "".join(f"data: {event}\n\n" for event in events)


def messages_body() -> str:
    """An Anthropic Messages answer with the chat answer's text and usage (what a client of /v1/messages gets)."""
    return _dumps(
        {
            "id": "msg_bench0000000000000000000001",
            "type": "message",
            "role": "assistant",
            "model": UPSTREAM_MODEL,
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 9, "output_tokens": 19},
        }
    )


def _quote(body: str) -> str:
    """`body` as a single-quoted nginx string. Real newlines are kept as they are (nginx allows them
    inside quotes); characters nginx would interpret are refused rather than escaped."""
    for bad in ("'", "\\", "$"):
        if bad in body:
            raise ValueError(f"static body must not contain {bad!r}")
    return f"'{body}'"


def render_config(workdir: Path, port: int) -> str:
    """nginx.conf text: one worker, no daemon, every file inside `workdir`."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers as root: they touch only workdir
    temp_paths = "".join(
        f"    {kind}_temp_path {workdir / (kind + '_temp')};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# Generated by bench/nginx.py for one benchmark run.
daemon off;
master_process on;
worker_processes 1;
{user}pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
worker_rlimit_nofile 8192;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    server_tokens off;
{temp_paths}    keepalive_requests 100000;
    keepalive_timeout 75s;
    tcp_nodelay on;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = {JSON_PATH} {{
            default_type application/json;
            return 200 {_quote(chat_completion_body())};
        }}
        location = {STREAM_PATH} {{
            default_type text/event-stream;
            add_header Cache-Control no-cache;
            return 200 {_quote(stream_body())};
        }}
        # 8 KB is past nginx's limit on one `return` string: the stream is a file, and a POST to it is redirected
        # (error_page turns the method into GET) to an internal location that serves it as it is.
        location = {STREAM32_PATH} {{
            error_page 405 =200 /files/stream32.sse;
            return 405;
        }}
        location = /files/stream32.sse {{
            internal;
            root {workdir};
            types {{ }}
            default_type text/event-stream;
            add_header Cache-Control no-cache;
        }}
        location = {MESSAGES_PATH} {{
            default_type application/json;
            return 200 {_quote(messages_body())};
        }}
        location = /healthz {{
            default_type text/plain;
            return 200 'ok';
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


class Nginx:
    """nginx as a child process (pinned to `core` when given), listening on 127.0.0.1:`port`."""

    def __init__(self, nginx_bin: str, workdir: Path, core: int | None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(render_config(workdir, self.port))
        (workdir / "files").mkdir(exist_ok=True)
        (workdir / "files" / "stream32.sse").write_text(stream32_body())
        error_log = str(workdir / "error.log")
        argv = [*pin_prefix(core), nginx_bin, "-p", f"{workdir}/", "-e", error_log, "-c", str(self.conf)]
        self.child = Child("nginx", argv, workdir / "nginx.stdout.log")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def json_base(self) -> str:
        """OpenAI-style base URL whose /chat/completions answers JSON."""
        return f"{self.base}/v1"

    @property
    def stream_base(self) -> str:
        """OpenAI-style base URL whose /chat/completions answers SSE."""
        return f"{self.base}/stream/v1"

    def wait(self) -> str | None:
        problem = wait_port(self.child, self.port)
        if problem:
            error_log = self.workdir / "error.log"
            errors = error_log.read_text(errors="replace") if error_log.exists() else ""
            return f"{problem}\n{self.child.log_tail()}\n{errors[-2000:]}"
        return None

    def stop(self) -> None:
        self.child.stop()
