"""`EventStreamResponse`: an ASGI response that relays a stream and stops it when the client leaves.

Starlette's `StreamingResponse` does the same with an anyio task group and cancel scopes per response,
which was the largest single cost of a streamed request in the benchmark's profile (anyio's backend
detection and cancel-scope delivery, ~15% of the CPU of a stream). This one uses one plain asyncio
task that waits for `http.disconnect` and cancels the sender; bench/passthrough.py uses it too, so the
benchmark's floor keeps the same server stack.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.types import Receive, Scope, Send


class EventStreamResponse:
    media_type = b"text/event-stream"

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        headers: Mapping[str, str],
        raw: list[tuple[bytes, bytes]] | None = None,
        status_code: int = 200,
    ) -> None:
        """`raw`: more headers, already as (lower-case name, value) bytes."""
        self.chunks = chunks
        self.status_code = status_code
        self.raw_headers = [(b"content-type", self.media_type)]
        self.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if raw:
            self.raw_headers += raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sender = asyncio.current_task()
        assert sender is not None
        state = {"finished": False, "disconnected": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["finished"]:
                state["disconnected"] = True
                sender.cancel()

        watcher = sender.get_loop().create_task(watch())  # (not get_running_loop: a getpid each on Python 3.11)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not state["disconnected"]:
                raise
            sender.uncancel()  # the client went away: a normal end for us, not a cancelled server
        except OSError:
            pass  # the connection broke while writing: the client is gone
        finally:
            state["finished"] = True
            watcher.cancel()
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()  # the relay's cleanup (closing the upstream response) runs now, not at GC
