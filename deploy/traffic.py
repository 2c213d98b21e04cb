"""Demo traffic for the compose stack: a steady mix of chat (streamed and not), embeddings, an unknown
model now and then, from two gateway keys (one over its rpm) and now and then no valid key, so every dashboard
panel has data. Stdlib only.

    python traffic.py http://localhost:8080 [requests_per_second]
"""

from __future__ import annotations

import json
import random
import sys
import time
import urllib.error
import urllib.request

KEYS = ["sk-demo-team-a", "sk-demo-team-b"]
QUESTIONS = ["What is OpenTelemetry?", "Write a haiku about latency.", "Summarise the CAP theorem.",
             "What is OpenTelemetry?"]  # repeated on purpose: cache hits


def send(base: str, path: str, body: dict[str, object]) -> int:
    key = random.choice(KEYS) if random.random() > 0.03 else "sk-not-a-gateway-key"  # now and then: a 401
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def one(base: str) -> int:
    roll = random.random()
    messages = [{"role": "user", "content": random.choice(QUESTIONS)}]
    if roll < 0.05:
        return send(base, "/v1/chat/completions", {"model": "no-such-model", "messages": messages})
    if roll < 0.15:
        return send(base, "/v1/embeddings", {"model": "text-embedding-3-small", "input": messages[0]["content"]})
    model = "claude-haiku" if roll < 0.4 else "gpt-4o-mini"
    return send(base, "/v1/chat/completions",
                {"model": model, "messages": messages, "stream": random.random() < 0.5, "max_tokens": 40})


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8080"
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    while True:
        started = time.monotonic()
        status = one(base)
        if status == 0:
            time.sleep(2)  # the gateway is not up yet
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
