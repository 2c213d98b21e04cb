"""The telemetry process: `python -m gateway.telemetry.process FD`, started by the serving process (link.py).

It reads batches of records from the socket FD, in order, and turns them into spans and metrics on the
OpenTelemetry SDK (pipeline.py); calls (flush, scrape, stats, stop) are answered after every record sent
before them. Its log records go back to the serving process, to be logged there. It ignores SIGINT and
SIGTERM: the serving process decides when it stops (`stop`, after a last flush), and when the serving
process is gone, the socket's end is the signal to flush and exit.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import traceback

from gateway.runtime import tune_gc
from gateway.telemetry.link import Channel
from gateway.telemetry.pipeline import Pipeline
from gateway.telemetry.records import Call, LogLine, Reply, RequestRecord, Start

log = logging.getLogger("gateway.telemetry")
STOP_TIMEOUT_S = 5.0


class ForwardHandler(logging.Handler):
    """Sends log records to the serving process (its logging has the operator's format and destination)."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(logging.INFO)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        try:
            self.channel.send([LogLine(record.name, record.levelno, message)])
        except OSError:
            pass  # the serving process is gone


def serve(channel: Channel) -> int:
    first = channel.receive()
    if not first or not isinstance(first[0], Start):
        return 2
    try:
        pipeline = Pipeline(first[0], os.environ)
    except Exception:
        log.exception("telemetry: the telemetry process could not start; no spans or metrics are exported")
        return 1
    tune_gc()
    failed = False
    while (items := channel.receive()) is not None:
        pipeline.tick()
        for item in items:
            if isinstance(item, Call):
                try:
                    value = pipeline.answer(item)
                except Exception:
                    log.exception("telemetry: %s failed", item.kind)
                    value = None
                channel.send([Reply(item.id, value)])
                if item.kind == "stop":
                    return 0
                continue
            try:
                pipeline.handle(RequestRecord.unpack(item) if type(item) is tuple else item)
            except Exception:  # one bad record must not stop the others
                if not failed:
                    failed = True
                    log.exception("telemetry: a record could not be turned into spans and metrics; further "
                                  "failures are not logged")
    pipeline.stop(STOP_TIMEOUT_S)  # the serving process went away without a stop
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    channel = Channel(socket.socket(fileno=int(argv[1])))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(ForwardHandler(channel))
    try:
        return serve(channel)
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
