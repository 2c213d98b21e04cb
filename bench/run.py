"""Benchmark: static nginx upstream vs. a minimal passthrough proxy vs. the gateway, in one run.

    python bench/run.py [--quick | --duration S] [--concurrency 1,16,64] [--targets ...]

See bench/README.md. Stdlib only; the servers under test run on the project's virtualenv Python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

import report
import targets
import wrk
from nginx import STREAM_PATH, Nginx
from procs import (
    Child,
    RowCpu,
    cpu_seconds,
    first_line,
    free_port,
    off_core_threads,
    pin_prefix,
    pin_row,
    pinning_cores,
    row_peak_rss_mb,
    serving_processes,
    wait_port,
    wait_ready,
)
from report import BASELINE, KEYED_ROWS, MODES, OTEL_ROWS, PAIRED, TARGET_ORDER, TargetResult

INSTALL_HINT = "apt-get update && apt-get install -y nginx wrk"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_python = targets.REPO_ROOT / ".venv" / "bin" / "python"
    parser = argparse.ArgumentParser(description="Compare the gateway with a passthrough proxy and nginx.")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per cell (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 s per cell (overrides --duration)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load before each cell")
    parser.add_argument("--concurrency", default="1,16,64", help="wrk connections per cell (default 1,16,64)")
    parser.add_argument(
        "--targets", default=",".join(TARGET_ORDER), help=f"subset of {','.join(TARGET_ORDER)} (default all)"
    )
    parser.add_argument(
        "--python",
        default=str(default_python) if default_python.exists() else sys.executable,
        help="Python that runs the passthrough and the gateway (default: the repo's .venv)",
    )
    parser.add_argument("--ready-timeout", type=float, default=20.0, help="seconds a server gets to start")
    parser.add_argument("--output", default=str(targets.BENCH_DIR / "results" / "latest.json"), help="JSON results")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp dir (configs, server logs)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of gateway and each of its partners (PAIRED in report.py) "
                             "loaded at once, per cell; telemetry rows: as many alone, back to back (default 3)")
    parser.add_argument(
        "--telemetry", default="none",
        help="the gateway's [telemetry]: none | console | otlp-dead | otlp:URL (default none; see bench/README.md)",
    )
    parser.add_argument(
        "--gateway-src", default=str(targets.REPO_ROOT),
        help="directory holding the `gateway` package the gateway rows run (`python -m gateway` from there), "
             "e.g. a `git archive` of another commit (default: the repo)",
    )
    parser.add_argument(
        "--metrics-only-as", choices=("traces", "ratio0"), default="traces",
        help="gateway-otel-metrics' config: `traces = false` (default; needs a gateway that has the key) or "
             "`trace_sample_ratio = 0` (the same for a gateway without it)",
    )
    args = parser.parse_args(argv)
    if args.metrics_only_as == "ratio0":
        targets.OTEL_ROWS["gateway-otel-metrics"] = targets.METRICS_ONLY_EQUIVALENT
    if args.quick:
        args.duration = 2.0
    args.concurrency = [int(part) for part in args.concurrency.split(",") if part.strip()]
    args.targets = [part.strip() for part in args.targets.split(",") if part.strip()]
    unknown = set(args.targets) - set(TARGET_ORDER)
    if unknown or not args.targets or not args.concurrency:
        parser.error(f"--targets takes {','.join(TARGET_ORDER)}; --concurrency takes numbers")
    return args


def find_tools() -> tuple[str, str] | None:
    """(nginx, wrk) paths, or None after saying how to install them."""
    nginx_bin = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/sbin")
    wrk_bin = shutil.which("wrk")
    if nginx_bin and wrk_bin:
        return nginx_bin, wrk_bin
    missing = " and ".join(name for name, path in (("nginx", nginx_bin), ("wrk", wrk_bin)) if not path)
    print(f"error: {missing} not found. Install them (Debian/Ubuntu, as root):\n  {INSTALL_HINT}", file=sys.stderr)
    return None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so the finally blocks stop every child


@dataclass
class Server:
    """A row's server while it is measured: nginx itself for `upstream`, else a child process."""

    result: TargetResult
    child: Child | None
    port: int
    pid: int


class Bench:
    def __init__(self, args: argparse.Namespace, nginx_bin: str, wrk_bin: str, workdir: Path) -> None:
        self.args, self.nginx_bin, self.wrk_bin, self.workdir = args, nginx_bin, wrk_bin, workdir
        cores = pinning_cores()
        self.server_core: int | None = cores[0] if cores else None
        self.load_core: int | None = cores[1] if cores else None
        self.children: list[Child] = []
        self.nginx: Nginx  # started by run()
        self.redis_url: str | None = None  # started for the gateway-cache-redis and gateway-keys-redis rows
        self.redis_problem: str | None = None  # why it could not be
        self.sinks: dict[str, str] = {}  # each telemetry row's own OTLP receiver (row name -> URL)
        self.results: dict[str, TargetResult] = {}
        self.total = (len(args.targets) + args.rounds * len(self.partners(args.targets))) * len(MODES) * len(
            args.concurrency)
        self.done = 0
        self.bodies = {mode: wrk.chat_request(stream=mode == "stream") for mode in MODES}
        self.scripts = {mode: wrk.write_script(workdir / f"{mode}.lua", body) for mode, body in self.bodies.items()}
        # the gateway-responses row sends the same call to POST /v1/responses
        self.responses_bodies = {mode: wrk.responses_request(stream=mode == "stream") for mode in MODES}
        self.responses_scripts = {mode: wrk.write_script(workdir / f"responses-{mode}.lua", body)
                                  for mode, body in self.responses_bodies.items()}

    def body(self, name: str, mode: str) -> str:
        return (self.responses_bodies if name == "gateway-responses" else self.bodies)[mode]

    def script(self, name: str, mode: str) -> Path:
        return (self.responses_scripts if name == "gateway-responses" else self.scripts)[mode]

    def run(self) -> None:
        self.nginx = Nginx(self.nginx_bin, self.workdir, self.load_core)
        self.children.append(self.nginx.child)
        problem = self.nginx.wait()
        if problem:
            raise RuntimeError(f"nginx did not start: {problem}")
        if self.server_core is None:
            print("warning: taskset or a second core is missing; nothing is pinned", flush=True)
        for group in self.groups():
            self.measure_group([self.results.setdefault(name, TargetResult(name)) for name in group])

    @staticmethod
    def partners(names: list[str]) -> list[str]:
        """The PAIRED rows asked for that are measured side by side with BASELINE (asked for too)."""
        return [name for name in PAIRED if name in names] if BASELINE in names else []

    def groups(self) -> list[list[str]]:
        """The rows in order; BASELINE and its partners (PAIRED) in one group, all up at the same time."""
        names = [name for name in TARGET_ORDER if name in self.args.targets]
        partners = self.partners(names)
        groups: list[list[str]] = []
        for name in names:
            if name == BASELINE:
                groups.append([name, *partners])
            elif name not in partners:
                groups.append([name])
        return groups

    def urls(self, name: str, port: int) -> dict[str, str]:
        if name == "upstream":
            return {
                "non-stream": f"{self.nginx.json_base}/chat/completions",
                "stream": f"{self.nginx.base}{STREAM_PATH}",
            }
        path = "/v1/responses" if name == "gateway-responses" else "/v1/chat/completions"
        return {mode: f"http://127.0.0.1:{port}{path}" for mode in MODES}

    def start(self, name: str) -> tuple[Child, int]:
        port = free_port()
        python, core, nginx = self.args.python, self.server_core, self.nginx
        if name == "passthrough":
            target = targets.passthrough_target(python, port, nginx.json_base, nginx.stream_base, core)
        else:
            telemetry = f"otlp:{self.sinks[name]}" if name in OTEL_ROWS else self.args.telemetry
            target = targets.gateway_target(
                python, port, nginx.json_base, nginx.stream_base, core, self.workdir, telemetry,
                name, self.redis_url or "",
            )
        cwd = Path(self.args.gateway_src) if name.startswith("gateway") else targets.REPO_ROOT
        child = Child(name, target.argv, self.workdir / f"{name}.log", cwd=cwd)
        self.children.append(child)
        return child, port

    def skip(self, result: TargetResult, reason: str) -> None:
        result.skipped = reason
        cells = 1 + self.args.rounds if result.name in self.partners(self.args.targets) else 1  # rounds: partner's
        first, self.done = self.done + 1, self.done + cells * len(MODES) * len(self.args.concurrency)
        print(f"[{first}-{self.done}/{self.total}] {result.name} SKIPPED: {reason}", flush=True)

    def start_redis(self) -> str | None:
        """A redis-server for the Redis rows (cache, keys), on the load generator's core like nginx; None when
        ready, else why not. Started once: the rows use their own key prefixes."""
        if self.redis_url is not None or self.redis_problem is not None:
            return self.redis_problem
        self.redis_problem = self._start_redis()
        return self.redis_problem

    def _start_redis(self) -> str | None:
        redis_bin = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/local/bin")
        if redis_bin is None:
            return "redis-server not found (apt-get install -y redis-server)"
        port = free_port()
        child = Child("redis", targets.redis_argv(redis_bin, port, self.load_core), self.workdir / "redis.log")
        self.children.append(child)
        problem = wait_port(child, port)
        if problem:
            return f"redis-server did not start: {problem}\n{child.log_tail()}"
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        return None

    def start_sink(self, name: str) -> str | None:
        """A telemetry row's own live OTLP receiver, on the load generator's core (the gateway's core carries
        only the gateway's processes: the receiver stands for a collector on another machine, which costs the
        gateway nothing); None when ready, else why not. One per row, so each row's counts are its own."""
        port = free_port()
        argv = [*pin_prefix(self.load_core), self.args.python, str(targets.BENCH_DIR / "otlp_sink.py"),
                "--port", str(port)]
        child = Child(f"otlp-sink-{name}", argv, self.workdir / f"otlp-sink-{name}.log", cwd=targets.REPO_ROOT)
        self.children.append(child)
        problem = wait_ready(child, f"http://127.0.0.1:{port}/healthz", self.args.ready_timeout)
        if problem:
            return f"the OTLP receiver did not start: {problem}\n{child.log_tail()}"
        self.sinks[name] = f"http://127.0.0.1:{port}"
        return None

    def sink_stats(self, name: str) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"{self.sinks[name]}/stats", timeout=10) as response:
                stats: dict[str, object] = json.loads(response.read())
                return stats
        except (OSError, ValueError) as exc:
            print(f"warning: could not read the OTLP receiver's counts: {exc}", flush=True)
            return None

    def prepare(self, result: TargetResult) -> bool:
        """What a row needs besides its server (Redis, the OTLP receiver); False when it is skipped."""
        problem = None
        if result.name in ("gateway-cache-redis", "gateway-keys-redis"):
            problem = self.start_redis()
        elif result.name in OTEL_ROWS and result.name not in self.sinks:
            problem = self.start_sink(result.name)
        if problem:
            self.skip(result, problem)
        return problem is None

    def launch(self, result: TargetResult) -> Server | None:
        """Start a row's server and wait until it is ready; None when it is skipped."""
        if result.name == "upstream":
            return Server(result, None, self.nginx.port, self.nginx.child.pid)
        print(f"starting {result.name} ...", flush=True)
        child, port = self.start(result.name)
        problem = wait_ready(child, f"http://127.0.0.1:{port}/healthz", self.args.ready_timeout)
        if problem:
            tail = child.log_tail()
            child.stop()
            self.skip(result, f"{problem}; last lines of its output:\n{tail}" if tail else problem)
            return None
        server = Server(result, child, port, child.pid)
        self.pin(server)
        return server

    def pin(self, server: Server) -> None:
        """Every thread of every process of a row on the gateway core: the serving process, and whatever it
        started (a telemetry process, uvicorn workers), found in /proc each time, since a child may come late.
        Said loudly if a thread still may run elsewhere."""
        if server.child is None or self.server_core is None:
            return
        pin_row(server.pid, self.server_core)
        stray = off_core_threads(server.pid, self.server_core)
        if stray:
            print(f"\nwarning: {server.result.name}: threads not on core {self.server_core}: {stray[:5]}", flush=True)

    def measure_group(self, group: list[TargetResult]) -> None:
        """Measure a row, or BASELINE and its partners (PAIRED): each cell on its own, then BASELINE side by side
        with each partner in turn (`side_by_side`). The servers of a group are all up for the whole group."""
        servers = [server for result in group if self.prepare(result) and (server := self.launch(result))]
        base = next((server for server in servers if server.result.name == BASELINE), None)
        partners = [server for server in servers if server.result.name in PAIRED] if base is not None else []
        if base is None:  # BASELINE was skipped: no rounds for the partners that are up
            alone = sum(1 for result in group if result.name in self.partners(self.args.targets) and not result.skipped)
            self.done += alone * self.args.rounds * len(MODES) * len(self.args.concurrency)
        try:
            for mode in MODES:
                for server in servers:
                    self.check(server, mode)
                for c in self.args.concurrency:
                    for server in servers:
                        self.measure_cell(server, mode, c)
                    for partner in partners:
                        assert base is not None
                        self.side_by_side(base, partner, mode, c)
            for server in servers:
                server.result.rss_mb, server.result.processes = row_peak_rss_mb(server.pid)
                server.result.serving_processes = serving_processes(server.pid)
                if server.result.name in KEYED_ROWS:
                    server.result.usage = targets.usage(f"http://127.0.0.1:{server.port}")
        finally:
            for server in servers:
                if server.child is not None:
                    server.child.stop(grace_s=15)  # the gateway flushes its telemetry on the way out
        for server in servers:
            if server.result.name in OTEL_ROWS:
                server.result.telemetry = self.sink_stats(server.result.name)

    def check(self, server: Server, mode: str) -> None:
        result, url = server.result, self.urls(server.result.name, server.port)[mode]
        check = targets.check_responses if result.name == "gateway-responses" else targets.check_chat
        problem = check(url, self.body(result.name, mode), stream=mode == "stream")
        if not problem and result.name.startswith("gateway-cache-"):
            # The check stored the answer: from now on, the same body is a hit.
            answer = targets.cache_result(url, self.bodies[mode])
            problem = None if answer == "hit" else f"the second identical request was not a hit: {answer}"
        if not problem and result.name in KEYED_ROWS:
            # The key and its limits are on the request path: the answer carries the key's rate-limit headers.
            headers = targets.limit_headers(url, self.bodies[mode])
            if isinstance(headers, str) or headers.get("x-ratelimit-limit-requests") != str(targets.KEY_RPM):
                problem = f"no x-ratelimit-limit-requests: {targets.KEY_RPM} on a keyed answer: {headers}"
        if not problem and result.name.startswith("gateway"):  # the live page: on (the default) but in one row
            problem = targets.ui_check(url.rsplit("/v1/", 1)[0], on=result.name != "gateway-no-ui")
        result.sent += 2 if result.name.startswith("gateway-cache-") or result.name in KEYED_ROWS else 1
        if problem:
            result.check_failures[mode] = problem
            print(f"warning: {result.name} {mode}: answer check failed: {problem}", flush=True)

    def refused(self, result: TargetResult, cell: wrk.WrkResult, what: str) -> None:
        """A keyed row must serve every request: one refused (429, 401, 503: wrk's status errors) is cheaper
        than a served one and would flatter the row's ratio. Recorded, said loudly, and the run exits 1."""
        if result.name in KEYED_ROWS and cell.errors.get("status"):
            problem = f"{what}: {cell.errors['status']:,} of {cell.requests:,} requests answered with HTTP >= 400"
            result.refusals.append(problem)
            print(f"\n!!! {result.name} REFUSED REQUESTS ({problem}); its numbers are void; "
                  f"see {result.name}.log in the work dir", flush=True)

    def side_by_side(self, base: Server, partner: Server, mode: str, c: int) -> None:
        """BASELINE and one PAIRED server loaded at the same time, each by its own wrk with `c` connections, for
        --rounds rounds: they share the gateway core, so their req/s ratio is the ratio of their CPU per
        request, and whatever else the machine does at that moment slows both alike. (Runs one after the
        other, minutes apart, differed here by more than the telemetry cost being measured.) The rounds go on
        the partner's result, with BASELINE's in the same rounds (`shared_base`)."""
        servers = [base, partner]
        for server in servers:
            self.pin(server)
        for index in range(self.args.rounds):
            self.done += 1
            names = " + ".join(server.result.name for server in servers)
            print(f"[{self.done}/{self.total}] {names} at once, {mode} c={c} round {index + 1}/{self.args.rounds}"
                  " ... ", end="", flush=True)
            before = [RowCpu(s.pid) for s in servers]
            # Which wrk starts first alternates from round to round, so that neither server has that edge.
            order = servers if index % 2 == 0 else servers[::-1]
            runs = {s.result.name: wrk.start(self.wrk_bin, self.urls(s.result.name, s.port)[mode],
                                             self.script(s.result.name, mode), c, self.args.duration, self.load_core)
                    for s in order}
            try:
                cells = [wrk.finish(runs[s.result.name], self.args.duration) for s in servers]
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                print(f"FAILED: {exc}", flush=True)
                return
            after = [cpu.spent()[0] for cpu in before]
            line = []
            for server, cell, spent in zip(servers, cells, after, strict=True):
                cpu_us = spent / max(cell.requests, 1) * 1e6
                own = server is partner
                (partner.result.shared if own else partner.result.shared_base)[mode].setdefault(c, []).append(cell)
                (partner.result.shared_cpu_us if own else partner.result.shared_base_cpu_us)[mode].setdefault(
                    c, []).append(cpu_us)
                server.result.sent += cell.requests
                errors = f" ERRORS: {cell.describe_errors()}" if cell.error_count else ""
                line.append(f"{server.result.name} {cell.rps:,.0f} req/s {cpu_us:,.0f} us{errors}")
            print("  ".join(line), flush=True)
            self.refused(partner.result, cells[1], f"{mode} c={c} side-by-side round {index + 1}")
        if partner.result.name in OTEL_ROWS:
            self.alternated(base, partner, mode, c)

    def alternated(self, base: Server, partner: Server, mode: str, c: int) -> None:
        """A telemetry row and BASELINE each loaded alone, back to back, --rounds times, the order alternating
        (base first, then the row first, ...): each has the gateway core to itself, its threads and children
        included, as in production, and the two runs of a round are seconds apart. The ratio per round is the
        req/s the row keeps; side by side (above) a row with more busy threads gets more than half the core."""
        for index in range(self.args.rounds):
            order = [base, partner] if index % 2 == 0 else [partner, base]
            figures: dict[str, tuple[wrk.WrkResult, float]] = {}
            for server in order:
                self.pin(server)
                meter = RowCpu(server.pid)
                try:
                    cell = wrk.run(self.wrk_bin, self.urls(server.result.name, server.port)[mode],
                                   self.script(server.result.name, mode), c, self.args.duration, self.load_core)
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                    print(f"alternated round FAILED: {exc}", flush=True)
                    return
                server.result.sent += cell.requests
                figures[server.result.name] = (cell, meter.spent()[0] / max(cell.requests, 1) * 1e6)
            (own, own_cpu), (other, other_cpu) = figures[partner.result.name], figures[base.result.name]
            partner.result.alternated[mode].setdefault(c, []).append((own.rps, other.rps, own_cpu, other_cpu,
                                                                      own.error_count + other.error_count))
            print(f"    alone, back to back ({order[0].result.name} first), {mode} c={c} round {index + 1}: "
                  f"{partner.result.name} {own.rps:,.0f} req/s {own_cpu:,.0f} us, {base.result.name} "
                  f"{other.rps:,.0f} req/s {other_cpu:,.0f} us: {100 * own.rps / max(other.rps, 1):.0f}%", flush=True)

    def measure_cell(self, server: Server, mode: str, c: int) -> None:
        result, child = server.result, server.child
        url = self.urls(result.name, server.port)[mode]
        self.done += 1
        print(f"[{self.done}/{self.total}] {result.name} {mode} c={c} ... ", end="", flush=True)
        if child is not None and not child.alive():
            result.cell_failures[mode][c] = f"server exited with code {child.proc.returncode}"
            print("server is gone", flush=True)
            return
        self.pin(server)  # a row's every process and thread on the gateway core, children included
        try:
            if self.args.warmup > 0:
                warm = wrk.run(self.wrk_bin, url, self.script(result.name, mode), c, self.args.warmup, self.load_core)
                result.sent += warm.requests
                self.refused(result, warm, f"{mode} c={c} warm-up")
            row_cpu = RowCpu(server.pid)
            own_before = cpu_seconds(server.pid)
            cell = wrk.run(self.wrk_bin, url, self.script(result.name, mode), c, self.args.duration, self.load_core)
            total, processes = row_cpu.spent()
            own = cpu_seconds(server.pid) - own_before
            result.sent += cell.requests
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            result.cell_failures[mode][c] = str(exc).splitlines()[0]
            print(f"FAILED: {exc}", flush=True)
            return
        per_request = 1e6 / max(cell.requests, 1)
        result.cells[mode][c] = cell
        # (every process of the row, summed; of which the process started, the serving one with --workers 1)
        result.cpu_us[mode][c] = (total * per_request, own * per_request)
        result.cpu_processes = max(result.cpu_processes, processes)
        errors = f"  ERRORS: {cell.describe_errors()}" if cell.error_count else ""
        print(f"{cell.rps:,.0f} req/s  p50 {cell.p50_ms:.2f} ms  p99 {cell.p99_ms:.2f} ms{errors}", flush=True)
        self.refused(result, cell, f"{mode} c={c}")

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()

    def meta(self, started: float) -> dict[str, object]:
        commit = first_line(["git", "-C", str(targets.REPO_ROOT), "rev-parse", "--short", "HEAD"])
        return {
            "started_unix": round(started),
            "wall_s": round(time.time() - started, 1),
            "duration_s": self.args.duration,
            "warmup_s": self.args.warmup,
            "side_by_side_rounds": self.args.rounds,
            "concurrency": self.args.concurrency,
            "wrk_threads": 1,
            "gateway_telemetry": self.args.telemetry,
            "gateway_src": self.args.gateway_src,
            "metrics_only_as": self.args.metrics_only_as,
            "redis": first_line(["redis-server", "--version"]) if self.redis_url else None,
            "pinning": {"servers_under_test": self.server_core, "nginx_and_wrk": self.load_core,
                        "note": "every process and thread of a row on servers_under_test; OTLP receivers and "
                                "redis-server with nginx and wrk"},
            "request_bodies": self.bodies,
            "nginx": first_line([self.nginx_bin, "-v"]),
            "wrk": first_line([self.wrk_bin, "-v"]),
            "python": first_line([self.args.python, "--version"]),
            "machine": f"{platform.machine()} cpus={len(os.sched_getaffinity(0))}",
            "git_commit": commit,
        }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = find_tools()
    if tools is None:
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="llm-gw-bench-"))
    started = time.time()
    cells = len(args.targets) * len(MODES) * len(args.concurrency)
    rounds = args.rounds * len(Bench.partners(args.targets)) * len(MODES) * len(args.concurrency)
    print(f"benchmark: {cells} cells x ({args.warmup:g} s warm-up + {args.duration:g} s)"
          + (f" + {rounds} side-by-side rounds x {args.duration:g} s" if rounds else "") + f"; work dir {workdir}")
    bench = run_bench(lambda: Bench(args, *tools, workdir), workdir, args.keep_workdir)
    if isinstance(bench, int):
        return bench
    print()
    print(report.format_report(bench.results, args.concurrency, args.duration))
    output = Path(args.output)
    report.write_json(output, bench.results, bench.meta(started))
    print(f"\nraw numbers: {output}")
    refusing = [result.name for result in bench.results.values() if result.refusals]
    if refusing:
        print(f"error: {', '.join(refusing)} refused requests during the run (see Problems): their ratios are void",
              file=sys.stderr)
        return 1
    return 0


class _Runnable(Protocol):
    def run(self) -> None: ...
    def stop_all(self) -> None: ...


R = TypeVar("R", bound=_Runnable)


def run_bench(make: Callable[[], R], workdir: Path, keep_workdir: bool) -> R | int:
    """Build a benchmark (`make()`) and run it, stopping every child process it started whatever happens, and
    removing the work dir unless asked to keep it. The benchmark when it ran through, else the exit code."""
    bench: R | None = None
    try:
        bench = make()
        bench.run()
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every child process", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if bench is not None:
            bench.stop_all()
        if keep_workdir:
            print(f"work dir kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return bench

if __name__ == "__main__":
    sys.exit(main())
