"""The gateway against a bare pass-through, side by side on one core (issue 19).

    python bench/versus.py [--duration 5] [--rounds 5] [--concurrency 1,16,64] [--rows chat,stream,...]

See bench/README.md, "Versus a bare pass-through". One gateway process and one bench/bare.py process (Starlette +
uvicorn + one aiohttp.ClientSession, nothing from gateway/), every thread of both (and of any child) pinned to
the gateway core; nginx and two wrks on the other core. Per row and concurrency: a warm-up with both loaded, then
--rounds rounds in which both are loaded at once, each by its own wrk with the same connections (which wrk
starts first alternates); the ratio gateway req/s ÷ bare req/s is taken per round, and its median and range
reported. At c=1, also --rounds rounds of each loaded alone, in alternating order: the p50 the gateway adds.
With --alone, also --rounds rounds per concurrency of each loaded alone on the core, in alternating order (the
issue's own method; a core of its own, as a gateway process has in production), the ratio taken per pair of
rounds. The `resolution` row is the same method on two identical bare pass-throughs. With --starts N, all of it
N times, each time with new processes: two processes of the same code differ by a few percent for their whole life
(hash seed, memory layout; bench/README.md, stop 31), which rounds on one process cannot show. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import targets
import wrk
from nginx import MESSAGES_PATH, STREAM32_PATH, Nginx
from procs import Child, RowCpu, first_line, free_port, off_core_threads, pin_prefix, pin_row, pinning_cores, wait_ready
from run import _on_sigterm, find_tools, run_bench

# The gateway's configs. "plain": telemetry off, cache off (the plain rows); the live page stays at its
# default (on), as a user gets it. "keyed": plain + one key with rpm and tpm far above what a run reaches (memory
# backend), which wrk sends. "cache": plain + [cache] backend = "memory" (wrk sends a new body every request).
KEY_RPM, KEY_TPM = targets.KEY_RPM, targets.KEY_TPM

# row -> (gateway config, path, body kind, what it is)
ROWS: dict[str, tuple[str, str, str, str]] = {
    "chat": ("plain", "/v1/chat/completions", "chat", "chat, non-stream"),
    "stream": ("plain", "/v1/chat/completions", "stream", "chat, stream (32 events)"),
    "messages": ("plain", "/v1/messages", "messages", "/v1/messages, non-stream (translated to chat)"),
    "responses": ("plain", "/v1/responses", "responses", "/v1/responses, non-stream (translated, stored)"),
    "keyed": ("keyed", "/v1/chat/completions", "chat", "chat, one key with rpm + tpm (memory)"),
    "cache-miss": ("cache", "/v1/chat/completions", "unique", "chat, memory cache, every request a miss"),
    "resolution": ("bare", "/v1/chat/completions", "chat", "bare ÷ bare, chat non-stream (the resolution)"),
    "resolution-stream": ("bare", "/v1/chat/completions", "stream", "bare ÷ bare, stream (the resolution)"),
}
UNIQUE = "__UNIQUE__"


def bodies() -> dict[str, str]:
    chat = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16}
    return {
        "chat": json.dumps(chat),
        "stream": json.dumps({**chat, "model": "bench-model-stream", "stream": True}),
        "messages": json.dumps({"model": "bench-model", "max_tokens": 16,
                                "messages": [{"role": "user", "content": "Say hello"}]}),
        "responses": wrk.responses_request(stream=False),
        "unique": json.dumps({**chat, "messages": [{"role": "user", "content": f"Say hello {UNIQUE}"}]}),
    }


def unique_script(path: Path, body: str) -> Path:
    """wrk's script with a `request()` that sends a body no earlier request sent: the run's own prefix (so
    another run, or a later round, does not repeat it) and a counter."""
    head, tail = body.split(UNIQUE)
    wrk.write_script(path, body.replace(UNIQUE, "x"))
    prefix = uuid.uuid4().hex[:12]
    with path.open("a") as script:
        script.write(f"""
local counter = 0
local head = [==[{head}]==]
local tail = [==[{tail}]==]
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. "{prefix}-" .. counter .. tail)
end
""")
    return path


def gateway_toml(kind: str, port: int, json_base: str, stream_base: str, workdir: Path) -> str:
    limits = ""
    if kind == "keyed":
        limits = (f'[limits]\nbackend = "memory"\nspend_file = {json.dumps(str(workdir / "keyed-spend.sqlite3"))}\n\n'
                  f'[[keys]]\nname = "bench"\nkey = "{targets.BENCH_KEY}"\nrpm = {KEY_RPM}\ntpm = {KEY_TPM}\n')
    cache = "memory" if kind == "cache" else "none"
    return targets.gateway_config(port, json_base, stream_base, "none", cache, "", limits)


@dataclass
class Proc:
    name: str
    child: Child
    port: int

    @property
    def pid(self) -> int:
        return self.child.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass
class RowResult:
    name: str
    rounds: dict[int, list[dict[str, float]]] = field(default_factory=dict)  # c -> per round figures
    alone: list[dict[str, float]] = field(default_factory=list)  # c=1, each alone: p50s per round
    alone_rounds: dict[int, list[dict[str, float]]] = field(default_factory=dict)  # --alone: c -> per round
    problems: list[str] = field(default_factory=list)


class Versus:
    def __init__(self, args: argparse.Namespace, nginx_bin: str, wrk_bin: str, workdir: Path) -> None:
        self.args, self.wrk_bin, self.workdir = args, wrk_bin, workdir
        cores = pinning_cores()
        self.server_core: int | None = cores[0] if cores else None
        self.load_core: int | None = cores[1] if cores else None
        self.children: list[Child] = []
        self.nginx = Nginx(nginx_bin, workdir, self.load_core)
        self.children.append(self.nginx.child)
        self.bodies = bodies()
        self.scripts = {kind: wrk.write_script(workdir / f"{kind}.lua", body)
                        for kind, body in self.bodies.items() if kind != "unique"}
        self.results: dict[str, RowResult] = {}

    def script(self, kind: str) -> Path:
        if kind == "unique":  # a new prefix for every wrk run
            return unique_script(self.workdir / f"unique-{uuid.uuid4().hex[:8]}.lua", self.bodies["unique"])
        return self.scripts[kind]

    def start(self, name: str, argv: list[str], cwd: Path, port: int | None = None) -> Proc:
        port = port or free_port()
        child = Child(name, [*pin_prefix(self.server_core), *argv, "--port", str(port)],
                      self.workdir / f"{name}.log", cwd=cwd)
        self.children.append(child)
        problem = wait_ready(child, f"http://127.0.0.1:{port}/healthz", self.args.ready_timeout)
        if problem:
            raise RuntimeError(f"{name} did not start: {problem}\n{child.log_tail()}")
        proc = Proc(name, child, port)
        self.pin(proc)
        return proc

    def pin(self, proc: Proc) -> None:
        if self.server_core is None:
            return
        pin_row(proc.pid, self.server_core)
        stray = off_core_threads(proc.pid, self.server_core)
        if stray:
            print(f"warning: {proc.name}: threads not on core {self.server_core}: {stray[:5]}", flush=True)

    def bare(self, name: str) -> Proc:
        return self.start(name, [self.args.python, str(targets.BENCH_DIR / "bare.py"), "--upstream", self.nginx.base],
                          targets.REPO_ROOT)

    def gateway(self, kind: str) -> Proc:
        config, port = self.workdir / f"gateway-{kind}.toml", free_port()
        config.write_text(gateway_toml(kind, port, self.nginx.json_base, f"{self.nginx.base}/stream32/v1",
                                       self.workdir))
        return self.start(f"gateway-{kind}", [self.args.python, "-m", "gateway", "serve", "--config", str(config)],
                          Path(self.args.gateway_src), port)

    def check(self, row: str, proc: Proc, bare: bool) -> str | None:
        """One request of the row's kind; None when the answer is what a client of that API expects."""
        config, path, kind, _ = ROWS[row]
        body = self.bodies[kind].replace(UNIQUE, uuid.uuid4().hex)
        if kind in ("chat", "stream", "unique") or (bare and kind == "responses"):
            problem = targets.check_chat(proc.url(path), body, stream=kind == "stream")
        elif kind == "responses":
            problem = targets.check_responses(proc.url(path), body, stream=False)
        else:  # messages
            problem = check_messages(proc.url(path), body)
        if problem or bare:
            return problem
        if kind == "stream":
            events = count_events(proc.url(path), body)
            if events != 33:
                return f"the stream has {events} data: events, not 32 + [DONE]"
        if config == "cache":
            found = targets.cache_result(proc.url(path), self.bodies[kind].replace(UNIQUE, uuid.uuid4().hex))
            if found != "miss":
                return f"a new body was not a cache miss: {found}"
        if config == "keyed":
            headers = targets.limit_headers(proc.url(path), body)
            if isinstance(headers, str) or headers.get("x-ratelimit-limit-requests") != str(KEY_RPM):
                return f"no x-ratelimit-limit-requests: {KEY_RPM} on a keyed answer: {headers}"
        return None

    def pair(self, row: str, gw: Proc, bare: Proc) -> None:
        """Warm-up, then --rounds rounds side by side per concurrency; at c=1 also rounds alone (p50)."""
        result = self.results.setdefault(row, RowResult(row))
        _, path, kind, _ = ROWS[row]
        for proc, is_bare in ((gw, row.startswith("resolution")), (bare, True)):
            problem = self.check(row, proc, is_bare)
            if problem:
                result.problems.append(f"{proc.name}: answer check failed: {problem}")
                print(f"warning: {row}: {proc.name}: answer check failed: {problem}", flush=True)
        procs = [gw, bare]
        for c in self.args.concurrency:
            for proc in procs:
                self.pin(proc)
            if self.args.warmup > 0:
                self.load(procs, path, kind, c, self.args.warmup)
            for index in range(self.args.rounds):
                order = procs if index % 2 == 0 else procs[::-1]
                cells, cpu = self.load(order, path, kind, c, self.args.duration)
                if cells is None:
                    result.problems.append(f"c={c} round {index + 1}: wrk failed")
                    continue
                self.note_round(row, result, result.rounds, "round", c, index, order[0], gw, bare, cells, cpu)
            if self.args.alone:
                self.alone(row, result, gw, bare, path, kind, c)
        if 1 in self.args.concurrency and self.args.latency:
            for index in range(self.args.rounds):  # each alone at c=1, in alternating order: p50 without sharing
                order = procs if index % 2 == 0 else procs[::-1]
                p50 = {}
                for proc in order:
                    cells, _ = self.load([proc], path, kind, 1, self.args.duration)
                    p50[proc.name] = cells[proc.name].p50_ms if cells else float("nan")
                result.alone.append({"gateway_p50_ms": p50[gw.name], "bare_p50_ms": p50[bare.name]})
                print(f"  {row} c=1 alone round {index + 1}: p50 {gw.name} {p50[gw.name]:.3f} ms, {bare.name} "
                      f"{p50[bare.name]:.3f} ms: {p50[gw.name] - p50[bare.name]:+.3f} ms", flush=True)

    def alone(self, row: str, result: RowResult, gw: Proc, bare: Proc, path: str, kind: str, c: int) -> None:
        """--rounds pairs of rounds, each process loaded alone on the core (which goes first alternates): the ratio
        of each pair. Nothing else shares the core's caches, as in production; adjacent rounds share the drift."""
        procs = [gw, bare]
        for index in range(self.args.rounds):
            order = procs if index % 2 == 0 else procs[::-1]
            cells: dict[str, wrk.WrkResult] = {}
            cpu: dict[str, float] = {}
            for proc in order:
                found, spent = self.load([proc], path, kind, c, self.args.duration)
                if found is None:
                    break
                cells.update(found)
                cpu.update(spent)
            if len(cells) < 2:
                result.problems.append(f"c={c} alone round {index + 1}: wrk failed")
                continue
            self.note_round(row, result, result.alone_rounds, "alone round", c, index, order[0], gw, bare, cells, cpu)

    def note_round(self, row: str, result: RowResult, rounds: dict[int, list[dict[str, float]]], what: str, c: int,
                   index: int, first: Proc, gw: Proc, bare: Proc, cells: dict[str, wrk.WrkResult],
                   cpu: dict[str, float]) -> None:
        """One round's figures into `rounds` (the ratio, each one's CPU per request and p50), printed; its errors
        into the row's problems."""
        g, b = cells[gw.name], cells[bare.name]
        errors = g.error_count + b.error_count
        figures = {"gateway_rps": g.rps, "bare_rps": b.rps, "ratio": g.rps / b.rps if b.rps else 0.0,
                   "gateway_cpu_us": cpu[gw.name] / max(g.requests, 1) * 1e6,
                   "bare_cpu_us": cpu[bare.name] / max(b.requests, 1) * 1e6,
                   "gateway_p50_ms": g.p50_ms, "bare_p50_ms": b.p50_ms, "errors": errors}
        rounds.setdefault(c, []).append(figures)
        if errors:
            result.problems.append(f"c={c} {what} {index + 1}: errors: gateway {g.describe_errors()} "
                                   f"bare {b.describe_errors()}")
        print(f"  {row} c={c} {what} {index + 1}/{self.args.rounds} ({first.name} first): "
              f"{gw.name} {g.rps:,.0f} req/s {figures['gateway_cpu_us']:,.0f} us  {bare.name} {b.rps:,.0f} "
              f"req/s {figures['bare_cpu_us']:,.0f} us  ratio {100 * figures['ratio']:.1f}%"
              + (f"  ERRORS {errors}" if errors else ""), flush=True)

    def load(self, procs: list[Proc], path: str, kind: str, c: int, duration: float
             ) -> tuple[dict[str, wrk.WrkResult] | None, dict[str, float]]:
        """Every proc loaded at once by its own wrk (started in the order given); their results and the CPU
        seconds each spent, summed over all of its processes."""
        cpu = {proc.name: RowCpu(proc.pid) for proc in procs}
        runs = {proc.name: wrk.start(self.wrk_bin, proc.url(path), self.script(kind), c, duration, self.load_core)
                for proc in procs}
        try:
            cells = {name: wrk.finish(run, duration) for name, run in runs.items()}
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            print(f"wrk FAILED: {exc}", flush=True)
            return None, {}
        return cells, {name: meter.spent()[0] for name, meter in cpu.items()}

    def run(self) -> None:
        problem = self.nginx.wait()
        if problem:
            raise RuntimeError(f"nginx did not start: {problem}")
        rows = self.args.rows
        # One gateway process per config and a bare pass-through, both started for the config's rows and stopped
        # after them: two processes with the same history. (A bare process kept up for the whole run, against a
        # fresh one, came out 7% slower per request at c=16 after serving the rows before it.)
        # With --starts N, all of that N times over, with new processes each time; the rounds pool per cell.
        for start in range(self.args.starts):
            for config in ("plain", "keyed", "cache", "bare"):
                mine = [row for row in rows if ROWS[row][0] == config]
                if not mine:
                    continue
                gw = self.bare("bare-2") if config == "bare" else self.gateway(config)
                bare = self.bare("bare")
                try:
                    for row in mine:
                        print(f"== {row}: {ROWS[row][3]}: {gw.name} and {bare.name} (processes: start "
                              f"{start + 1} of {self.args.starts}) ==", flush=True)
                        self.pair(row, gw, bare)
                finally:
                    gw.child.stop(grace_s=15)
                    bare.child.stop()

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()


def check_messages(url: str, body: str, timeout_s: float = 10.0) -> str | None:
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {targets.BENCH_KEY}",
        "anthropic-version": "2023-06-01"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:300]!r}"
    except (OSError, ValueError) as exc:
        return f"request failed: {exc}"
    if answer.get("type") != "message" or not answer.get("content"):
        return f"not an Anthropic message: {str(answer)[:200]}"
    return None


def count_events(url: str, body: str, timeout_s: float = 10.0) -> int:
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return sum(1 for line in response.read().decode().splitlines() if line.startswith("data:"))


def _cpu(per_round: list[dict[str, float]]) -> str:
    """CPU µs per request, the medians of the rounds: gateway / bare."""
    return (f"{statistics.median(r['gateway_cpu_us'] for r in per_round):,.0f} / "
            f"{statistics.median(r['bare_cpu_us'] for r in per_round):,.0f}")


def _pct(values: list[float]) -> str:
    if not values:
        return "-"
    values = sorted(values)
    spread = f" ({100 * values[0]:.0f}-{100 * values[-1]:.0f})" if len(values) > 1 else ""
    return f"{100 * statistics.median(values):.0f}%{spread}"


def format_report(results: dict[str, RowResult], concurrencies: list[int], rounds: int) -> str:
    lines = [f"gateway req/s ÷ bare pass-through req/s, side by side on one core; median of {rounds} rounds (range):",
             ""]
    header = ["row", *[f"c={c}" for c in concurrencies], "p50 added at c=1"]
    rows = []
    for name, result in results.items():
        cells = []
        for c in concurrencies:
            per_round = result.rounds.get(c, [])
            text = _pct([r["ratio"] for r in per_round])
            cells.append(text + ("!" if any(r["errors"] for r in per_round) else ""))
        added = [a["gateway_p50_ms"] - a["bare_p50_ms"] for a in result.alone]
        p50 = "-" if not added else (f"{statistics.median(added):+.3f} ms "
                                     f"({min(added):+.3f} to {max(added):+.3f})")
        rows.append([name, *cells, p50])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(row)))
    lines.append("")
    lines.append("CPU us per request side by side, every process of each summed, medians of rounds "
                 "(gateway / bare):")
    for name, result in results.items():
        parts = []
        for c in concurrencies:
            per_round = result.rounds.get(c, [])
            if per_round:
                parts.append(f"c={c} {_cpu(per_round)}")
        lines.append(f"  {name}: " + "  ".join(parts))
    if any(result.alone_rounds for result in results.values()):
        lines += ["", f"gateway req/s ÷ bare req/s, each alone on the core in alternating order (--alone); median of "
                  f"{rounds} pairs of rounds (range), then CPU us per request (gateway / bare):", ""]
        for name, result in results.items():
            parts = []
            for c in concurrencies:
                per_round = result.alone_rounds.get(c, [])
                if per_round:
                    parts.append(f"c={c} {_pct([r['ratio'] for r in per_round])}"
                                 + ("!" if any(r["errors"] for r in per_round) else "")
                                 + f" [{_cpu(per_round)}]")
            lines.append(f"  {name}: " + "  ".join(parts))
    lines.append("")
    lines.append("rows: " + "; ".join(f"{name} = {ROWS[name][3]}" for name in results))
    lines.append("'!': a round with errors (HTTP >= 400 or socket errors): that cell is not comparable.")
    problems = [f"  {name}: {problem}" for name, result in results.items() for problem in result.problems]
    if problems:
        lines += ["", "Problems:", *problems]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_python = targets.REPO_ROOT / ".venv" / "bin" / "python"
    parser = argparse.ArgumentParser(description="The gateway against a bare pass-through, side by side (issue 19).")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of both loaded before each cell's rounds")
    parser.add_argument("--rounds", type=int, default=5, help="side-by-side rounds per cell (default 5)")
    parser.add_argument("--starts", type=int, default=1,
                        help="run everything this many times, with new processes each time (default 1); a cell's "
                             "median is then of --rounds x --starts rounds")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"subset of {','.join(ROWS)} (default all)")
    parser.add_argument("--no-latency", dest="latency", action="store_false",
                        help="skip the rounds alone at c=1 (the p50 added)")
    parser.add_argument("--alone", action="store_true",
                        help="also, per concurrency, --rounds rounds of each loaded alone on the core (alternating)")
    parser.add_argument("--python", default=str(default_python) if default_python.exists() else sys.executable)
    parser.add_argument("--gateway-src", default=str(targets.REPO_ROOT),
                        help="directory holding the `gateway` package to run (default: the repo)")
    parser.add_argument("--ready-timeout", type=float, default=20.0)
    parser.add_argument("--output", default=str(targets.BENCH_DIR / "results" / "versus.json"))
    parser.add_argument("--keep-workdir", action="store_true")
    args = parser.parse_args(argv)
    args.concurrency = [int(part) for part in args.concurrency.split(",") if part.strip()]
    args.rows = [part.strip() for part in args.rows.split(",") if part.strip()]
    if set(args.rows) - set(ROWS) or not args.rows:
        parser.error(f"--rows takes {','.join(ROWS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = find_tools()
    if tools is None:
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="llm-gw-versus-"))
    started = time.time()
    bench = run_bench(lambda: Versus(args, *tools, workdir), workdir, args.keep_workdir)
    if isinstance(bench, int):
        return bench
    print()
    print(format_report(bench.results, args.concurrency, args.rounds * args.starts))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "meta": {"started_unix": round(started), "wall_s": round(time.time() - started, 1),
                 "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
                 "starts": args.starts,
                 "concurrency": args.concurrency, "gateway_src": args.gateway_src,
                 "pinning": {"gateway_and_bare": bench.server_core, "nginx_and_wrk": bench.load_core},
                 "request_bodies": bench.bodies, "stream_path": STREAM32_PATH, "messages_path": MESSAGES_PATH,
                 "python": first_line([args.python, "--version"]), "wrk": first_line([tools[1], "-v"]),
                 "machine": f"{platform.machine()} cpus={len(os.sched_getaffinity(0))}",
                 "git_commit": first_line(["git", "-C", str(targets.REPO_ROOT), "rev-parse", "--short", "HEAD"])},
        "rows": {name: {"what": ROWS[name][3], "rounds": {str(c): r for c, r in result.rounds.items()},
                        "alone_c1": result.alone,
                        "alone_rounds": {str(c): r for c, r in result.alone_rounds.items()},
                        "problems": result.problems}
                 for name, result in bench.results.items()},
    }, indent=2) + "\n")
    print(f"\nraw numbers: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
