"""Closing the listening socket without resetting the connections queued on it.

The kernel completes a client's handshake by itself and queues the connection until the server accepts it. A
client (nginx, say) sends its request as soon as it is connected. Closing the listening socket resets every
connection still in that queue, with its request in it; a load balancer does not resend a POST it has sent
(nginx answers 502). So when the gateway stops accepting (SIGTERM, after `[server] drain_delay_s`):

1. `refuse_new_connections` attaches a socket filter that drops every packet reaching the listening socket: no
   handshake completes any more. (A client's connect waits for its next SYN, about a second later; by then the
   socket is closed and it is refused, so a load balancer tries another replica.) Linux only; elsewhere the
   queue is reset as before.
2. What is queued already is accepted and served as usual (`GatewayServer` waits until the queue is empty).
3. The socket closes with nothing queued.

With `--workers`, every worker and the parent share one listening socket; it closes when its last holder does.
The parent does step 1 when the drain delay is over and drops its own copy then (`gateway/supervisor.py`);
the workers do 2 and 3. A worker never does 1 itself: one worker stopped alone would stop the others too.
"""

from __future__ import annotations

import asyncio
import ctypes
import select
import socket
import struct
import sys
import time
from collections.abc import Iterable

import uvicorn

SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; Python's socket module does not name it
_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)  # classic BPF, one instruction: BPF_RET | BPF_K, keep 0 bytes
QUEUE_WAIT_S = 0.5  # at most this long to accept what is queued before closing regardless


def refuse_new_connections(listeners: Iterable[socket.socket]) -> bool:
    """Stop the kernel completing handshakes on these listening TCP sockets (the queued connections stay).
    False where that cannot be done (not Linux, not TCP)."""
    if sys.platform != "linux":
        return False
    program = ctypes.create_string_buffer(_DROP_ALL)
    fprog = struct.pack("HL", 1, ctypes.addressof(program))  # struct sock_fprog
    done = False
    for sock in listeners:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            with socket.fromfd(sock.fileno(), sock.family, socket.SOCK_STREAM) as dup:  # a real socket object
                dup.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            done = True
        except OSError:
            pass
    return done


def queued(listeners: Iterable[socket.socket]) -> bool:
    """Whether a connection waits to be accepted on any of these listening sockets."""
    fds = [sock.fileno() for sock in listeners if sock.fileno() >= 0]
    return bool(fds) and bool(select.select(fds, [], [], 0)[0])


class GatewayServer(uvicorn.Server):
    """uvicorn's server (one process), closing its listening sockets as the module docstring says."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        listeners = [s for server in self.servers for s in (server.sockets or ())]
        if refuse_new_connections(listeners):
            deadline = time.monotonic() + QUEUE_WAIT_S
            while queued(listeners) and time.monotonic() < deadline:
                await asyncio.sleep(0.001)  # the loop accepts them, as it accepts any connection
        await super().shutdown(sockets)
