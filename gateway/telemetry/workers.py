"""`--workers N` with Prometheus: one scrape of `/metrics` shows the whole server, whichever worker takes it.

Each worker has its own metrics (its own MeterProvider and Prometheus registry), and the kernel hands a scrape to any
one of them. So every worker publishes its exposition text once a second into a directory the parent made
(`GATEWAY_METRICS_DIR`, one file per worker process), and the worker that is scraped answers with its own
current text added to the other live workers' latest: the samples of one name and label set are summed
(counters, histograms, and gauges, which then count across workers: `gateway_target_cooling_down` is the
number of workers that cool that target). Another worker's counts are at most `PUBLISH_S` old. A worker
that exits takes its file with it (a killed one's is skipped once its process is gone), so its counts leave
the sums: Prometheus' `rate()` reads that as a counter reset, as it would for a restarted server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

DIR_ENV = "GATEWAY_METRICS_DIR"
PUBLISH_S = 1.0

log = logging.getLogger("gateway.telemetry")


class Publisher:
    """A daemon thread that writes this worker's exposition text (from `scrape()`) to its file every
    PUBLISH_S; `stop()` removes the file."""

    def __init__(self, directory: str, scrape: Callable[[], bytes | None]) -> None:
        self.path = Path(directory) / f"{os.getpid()}.prom"
        self.scrape = scrape
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gateway-metrics-publisher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(PUBLISH_S):
            try:
                text = self.scrape()
            except Exception:  # a scrape that failed: next time
                continue
            if text is not None:
                temporary = self.path.with_suffix(".tmp")
                with contextlib.suppress(OSError):
                    temporary.write_bytes(text)
                    temporary.replace(self.path)  # atomic: a reader never sees half a file

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.path.unlink()


def merged(own: bytes, directory: str) -> bytes:
    """This worker's exposition text (`own`, current) with every other live worker's latest, summed."""
    texts = [own.decode()]
    for path in Path(directory).glob("*.prom"):
        pid = int(path.stem) if path.stem.isdigit() else 0
        if pid == os.getpid() or not _alive(pid):
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            texts.append(path.read_text())
    if len(texts) == 1:
        return own
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Summed(texts))
    return generate_latest(registry)


class _Summed(Collector):
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for text in self.texts:
            try:
                parsed = list(text_string_to_metric_families(text))
            except ValueError:  # a file cut short by a crash: left out of this scrape
                log.debug("metrics of a worker could not be parsed; left out of this scrape")
                continue
            for family in parsed:
                families.setdefault(family.name, Metric(family.name, family.documentation, family.type, family.unit))
                samples = sums.setdefault(family.name, {})
                for sample in family.samples:
                    if sample.name.endswith("_created"):  # a time, not a count: sums of it mean nothing
                        continue
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    samples[key] = samples.get(key, 0.0) + sample.value
        for name, family in families.items():
            for (sample_name, labels), value in sums[name].items():
                family.add_sample(sample_name, dict(labels), value)
            yield family


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True
