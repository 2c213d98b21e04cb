"""`gateway serve --workers N`: uvicorn's process supervisor, with a config reload that every worker agrees on.

uvicorn's supervisor answers SIGHUP by replacing every worker with a new process; with a broken config file
each replacement fails to start (a traceback, then "not ready in time"). Here SIGHUP to the parent reads
and checks the file once, exactly as `gateway check` does:

- invalid: the problem list is logged (no traceback) and every worker keeps serving the config it has;
- valid: each worker gets SIGHUP and reloads in place (`reload.Reloader`: requests in flight finish on the
  old config, target health and warm connections are kept), no process is replaced.

`POST /admin/reload` on any worker reloads that worker and then sends SIGHUP to the parent, which passes
it to every worker (that one reloads a second time, to the same file), so all workers serve one config.

A worker that dies (killed, out of memory) is replaced by uvicorn's loop here (`keep_subprocess_alive`,
every half second). The workers share one listening socket, so connections the dead worker had not accepted
yet go to the others; only the requests on its own connections are lost. Its shared rate-limit slots are
freed by the others (gateway/state/shared.py). tests/e2e/test_shutdown.py kills one under load.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from socket import socket
from typing import Any

from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess

from gateway.config import ConfigError, GatewayConfig
from gateway.listener import refuse_new_connections

log = logging.getLogger("gateway")


class Supervisor(Multiprocess):
    def __init__(self, config: Config, sockets: list[socket], check: Callable[[], Any], drain_delay_s: float) -> None:
        super().__init__(config, sockets)
        self.check = check  # loads and checks the config file; raises ConfigError
        self.drain_delay_s = drain_delay_s  # `[server] drain_delay_s` of the config the workers serve

    def terminate_all(self) -> None:
        """uvicorn's (SIGTERM to every worker: each drains, then stops accepting), and, once the drain delay is
        over, no new connection on the socket they share, and this process's copy of it closed: the socket
        closes with the last worker's, not at this process's exit, and not with connections queued (see
        gateway/listener.py). Before, connections kept queuing on the copy kept here while the workers finished
        their streams, and were reset when the parent left."""
        super().terminate_all()
        timer = threading.Timer(self.drain_delay_s, self._stop_accepting)
        timer.daemon = True
        timer.start()

    def _stop_accepting(self) -> None:
        refuse_new_connections(self.sockets)
        for sock in self.sockets:
            sock.close()

    def handle_hup(self) -> None:
        try:
            checked: GatewayConfig = self.check()[0]
        except ConfigError as exc:
            log.error("config reload refused; every worker keeps its config.\n%s", exc.report())
            return
        self.drain_delay_s = checked.server.drain_delay_s
        log.info("config checked (%d providers, %d routes); reloading %d workers", len(checked.providers),
                 len(checked.routes), len(self.processes))
        for process in self.processes:
            if process.pid is not None:
                try:
                    os.kill(process.pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass  # it just died; its replacement reads the file when it starts


def tell_supervisor() -> None:
    """From a worker: ask the parent to reload every worker (after `POST /admin/reload`)."""
    os.kill(os.getppid(), signal.SIGHUP)
