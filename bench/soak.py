"""Soak: a steady mixed load on a real gateway for minutes, while its upstreams fail in every way on a schedule.

    python bench/soak.py --minutes 10 [--rate 20] [--seed N] [--keep-workdir]

Three processes: the gateway (`gateway.app.create_app` under uvicorn with uvloop and httptools, as
`gateway serve` runs it, plus one route of the soak's own, `/_soak/stats`: RSS, open fds, asyncio tasks), the
upstreams (bench/soak_upstreams.py: fake OpenAI servers behind fault proxies) and this one, the load: a fixed
rate of chat, streamed chat, embeddings, `/v1/messages` (both ways), `/v1/responses` (both ways) and repeated
requests that the cache answers. Every answer is checked to the last byte; the run ends with one table and
exits 1 when an assertion fails. See bench/README.md ("Soak").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
try:
    import httpx
except ImportError:  # `python bench/soak.py` with a Python that lacks the project: use the repo's .venv
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    raise

sys.path.insert(0, str(BENCH_DIR))
from procs import Child, free_port, wait_port, wait_ready  # noqa: E402
from soak_upstreams import KINDS, Window  # noqa: E402

REPLY = "Hello from the fake upstream."  # what tests/fakes/openai_compat.py answers
ADMIN = "soak-admin-key"
TARGETS = ("alpha", "beta", "gamma")  # gamma serves the fallback routes only and is never faulted
FAULTED = ("alpha", "beta")
HANG_S = 120.0  # an answer not finished by then is a hang
RECOVERY_S = 30.0  # a target must be back in service this long after its fault window (issue 18)
MIX = {"chat": 20, "chat-stream": 20, "embeddings": 10, "messages": 8, "messages-stream": 8,
       "responses": 8, "responses-stream": 8, "cache-hit": 18}


# -- the gateway process ---------------------------------------------------------------------------------------


def serve_gateway(config_path: str, port: int) -> None:
    """The gateway's app as `gateway serve` builds it, plus `/_soak/stats` from inside the process."""
    import uvicorn

    from gateway.app import create_app
    from gateway.config import load_config
    from gateway.runtime import tune_gc

    app = create_app(load_config(config_path)[0])
    tune_gc()

    async def with_stats(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_soak/stats":
            if scope["query_string"] == b"collect=1":  # the pauses' readings: live objects only
                gc.collect()
            body = json.dumps(process_stats()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    uvicorn.Server(uvicorn.Config(with_stats, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                                  log_level="warning", timeout_graceful_shutdown=5)).run()


def process_stats() -> dict[str, int]:
    rss_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    # Python's own count of allocated objects/blocks: flat while RSS grows means the allocator keeps freed
    # memory (a high-water mark, fragmentation), not that objects pile up
    return {"rss_kb": rss_kb, "fds": len(os.listdir("/proc/self/fd")), "tasks": len(asyncio.all_tasks()),
            "blocks": sys.getallocatedblocks()}


def gateway_config(ports: dict[str, int]) -> str:
    text = ('[telemetry]\nexporter = "none"\n[cache]\nbackend = "memory"\nmax_entries = 300\n'
            '[responses]\nmax_entries = 200\n[limits]\nspend_file = ""\n'
            f'[admin]\nkey = "{ADMIN}"\n'
            # the one default changed: a stall mid-stream costs 15 s instead of 60 before it is resumed
            "[routing]\nstream_idle_timeout_s = 15\n")
    for name in TARGETS:
        text += (f'[[providers]]\nname = "{name}"\ntype = "openai"\nbase_url = "http://127.0.0.1:{ports[name]}/v1"\n'
                 # idle pooled connections retire within seconds, so that the pauses' fd counts compare
                 'api_key = "sk-soak"\nkeepalive_s = 4\n')

    def route(model: str, targets: list[str], fallback: str, strategy: str = "weighted") -> str:
        out = f'[[routes]]\nmodel = "{model}"\nstrategy = "{strategy}"\n'
        out += f'fallbacks = ["{fallback}"]\n' if fallback else ""
        return out + "".join(f'  [[routes.targets]]\n  provider = "{p}"\n  model = "{m}"\n' for p, m in
                             (t.split("/") for t in targets))

    text += route("chat", ["alpha/fake-chat", "beta/fake-chat"], "chat-spare")
    text += route("chat-spare", ["gamma/fake-chat"], "")
    text += route("embed", ["alpha/fake-embed", "beta/fake-embed"], "embed-spare", "round_robin")
    text += route("embed-spare", ["gamma/fake-embed"], "")
    return text


# -- the schedule ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    kind: str  # "load" | "pause" (nothing sent; the gateway's quiet figures are read, as `label`)
    start: float
    end: float
    label: str = ""


PREWARM_S = 15.0  # load without faults before anything is measured
PAUSE_S = 15.0  # no load: answers under way finish, idle connections retire (keepalive_s = 4), then a reading
TAIL_S = RECOVERY_S + 10  # load without faults after each cycle: every target has time to come back


def schedule(total_s: float) -> tuple[list[Phase], list[Window]]:
    """Pre-warm, a pause (the "clean" reading), then fault cycles, each followed by a tail of load without
    faults and a pause with a reading. A cycle is every fault kind once, one window each, alternating between
    the two faulted targets; a window is half its slot (slots of about 30 s, 12 to 40). As many cycles as fit,
    at least two when slots of 12 s allow it (from about 6.5 minutes): the first is then the warm-up, and the
    others are judged against the reading after it ("base" -> "end"); the readings between show a trend."""
    fixed = PREWARM_S + PAUSE_S
    per_cycle_fixed = TAIL_S + PAUSE_S
    fits = int((total_s - fixed) // (len(KINDS) * 30.0 + per_cycle_fixed))
    two = (total_s - fixed - 2 * per_cycle_fixed) / (2 * len(KINDS)) >= 12.0
    cycles = max(fits, 2 if two else 1)
    slot = min(40.0, max(12.0, (total_s - fixed - cycles * per_cycle_fixed) / (cycles * len(KINDS))))
    phases = [Phase("load", 0.0, PREWARM_S), Phase("pause", PREWARM_S, fixed, "clean")]
    windows: list[Window] = []
    at, i = fixed, 0
    for cycle in range(cycles):
        start = at
        for _ in KINDS:
            windows.append(Window(FAULTED[i % 2], KINDS[i % len(KINDS)], round(at, 1), round(at + slot / 2, 1)))
            at += slot
            i += 1
        at += TAIL_S
        label = "end" if cycle == cycles - 1 else "base" if cycle == 0 else f"cycle {cycle + 1}"
        phases.append(Phase("load", start, at))
        phases.append(Phase("pause", at, at + PAUSE_S, label))
        at += PAUSE_S
    return phases, windows


# -- the load -----------------------------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    sent_at: float  # seconds from the start
    outcome: str  # ok | clean-error | hang | truncated | unclean | wrong
    status: int = 0
    latency_s: float = 0.0
    detail: str = ""
    cache: str = ""
    provider: str = ""


@dataclass
class Run:
    start: float  # wall clock of t = 0
    windows: list[Window]
    results: list[Result] = field(default_factory=list)
    in_flight: int = 0
    stats: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    states: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))

    def now(self) -> float:
        return time.time() - self.start

    def fault_at(self, t: float) -> Window | None:
        """The window a request sent at `t` could have met (its fault, or the recovery after it)."""
        for window in self.windows:
            if window.start - 1 <= t <= window.end + RECOVERY_S:
                return window
        return None


def body_for(kind: str, rng: random.Random, n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
    prompt = f"soak request {n} {rng.random():.12f}"  # unique: a cache miss
    if kind == "cache-hit":
        return "/v1/chat/completions", {"model": "chat", "temperature": 0,
                                        "messages": [{"role": "user", "content": f"cached {n % 3}"}]}, {}
    if kind.startswith("chat"):
        stream = kind.endswith("stream")
        extra = {"stream_options": {"include_usage": True}} if stream and n % 2 else {}
        return "/v1/chat/completions", {"model": "chat", "stream": stream, **extra,
                                        "messages": [{"role": "user", "content": prompt}]}, {}
    if kind == "embeddings":
        return "/v1/embeddings", {"model": "embed", "input": [prompt, prompt + " again"]}, {}
    if kind.startswith("messages"):
        return "/v1/messages", {"model": "chat", "max_tokens": 64, "stream": kind.endswith("stream"),
                                "messages": [{"role": "user", "content": prompt}]}, {"anthropic-version": "2023-06-01"}
    return "/v1/responses", {"model": "chat", "input": prompt, "stream": kind.endswith("stream"),
                             "store": n % 10 == 0}, {}


def check_json(kind: str, data: Any) -> str | None:
    """None when the answer is whole, else what is wrong with it."""
    try:
        if kind in ("chat", "cache-hit"):
            choice = data["choices"][0]
            ok = choice["message"]["content"] == REPLY and choice["finish_reason"] == "stop"
        elif kind == "embeddings":
            ok = len(data["data"]) == 2 and all(len(d["embedding"]) == 8 for d in data["data"])
        elif kind == "messages":
            ok = "".join(b.get("text", "") for b in data["content"]) == REPLY and data["stop_reason"] == "end_turn"
        else:
            text = "".join(c.get("text", "") for item in data["output"] if item.get("type") == "message"
                           for c in item["content"])
            ok = text == REPLY and data["status"] == "completed"
    except (KeyError, IndexError, TypeError) as exc:
        return f"unexpected shape: {exc!r}"
    return None if ok else f"incomplete: {json.dumps(data)[:200]}"


def check_stream(kind: str, events: list[dict[str, Any] | str]) -> tuple[str, str]:
    """(outcome, detail) of a whole SSE answer: ok, clean-error (ends with an error event and never claims
    to be complete), truncated (claims complete but is not), or unclean (ends with neither)."""
    text, done, error = "", False, None
    for event in events:
        if event == "[DONE]":
            done = True
            continue
        assert isinstance(event, dict)
        kind_of = event.get("type", "")
        if "error" in event and (kind.startswith("chat") or kind_of == "error"):
            error = event["error"]
        elif kind.startswith("chat"):
            text += "".join(c["delta"].get("content") or "" for c in event.get("choices", []))
        elif kind.startswith("messages"):
            if kind_of == "content_block_delta" and event["delta"].get("type") == "text_delta":
                text += event["delta"]["text"]
            done = done or kind_of == "message_stop"
        else:
            if kind_of == "response.output_text.delta":
                text += event["delta"]
            done = done or kind_of == "response.completed"
            if kind_of == "response.failed":
                error = event.get("response", {}).get("error") or "response.failed"
    if done and error is None:
        return ("ok", "") if text == REPLY else ("truncated", f"complete with {text!r}")
    if error is not None and not done:
        return "clean-error", json.dumps(error)[:200]
    return "unclean", f"done={done} error={error} text={text!r}"


async def one_request(client: httpx.AsyncClient, run: Run, kind: str, rng: random.Random, n: int) -> None:
    path, body, headers = body_for(kind, rng, n)
    sent = run.now()
    result = Result(kind, sent, "unclean")
    run.in_flight += 1
    try:
        async with asyncio.timeout(HANG_S):
            await exchange(client, path, body, headers, kind, result)
    except TimeoutError:
        result.outcome, result.detail = "hang", f"no whole answer after {HANG_S:.0f} s"
    except (httpx.HTTPError, ValueError) as exc:
        result.outcome, result.detail = "unclean", repr(exc)[:200]
    finally:
        run.in_flight -= 1
        result.latency_s = run.now() - sent
        run.results.append(result)


async def exchange(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str],
                   kind: str, result: Result) -> None:
    async with client.stream("POST", path, json=body, headers=headers) as response:
        result.status = response.status_code
        result.cache = response.headers.get("x-gateway-cache", "")
        result.provider = response.headers.get("x-gateway-provider", "")
        if response.status_code != 200 or not body.get("stream"):
            data = json.loads(await response.aread())
            if response.status_code != 200:
                shaped = isinstance(data.get("error"), dict) and "message" in data["error"]
                result.outcome = "clean-error" if shaped else "unclean"
                result.detail = json.dumps(data)[:200]
                return
            problem = check_json(kind, data)
            result.outcome, result.detail = ("ok", "") if problem is None else ("wrong", problem)
            return
        events: list[dict[str, Any] | str] = []
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                payload = line[6:]
                events.append(payload if payload == "[DONE]" else json.loads(payload))
        result.outcome, result.detail = check_stream(kind, events)


async def drive(client: httpx.AsyncClient, run: Run, rate: float, until_s: float, rng: random.Random,
                tasks: set[asyncio.Task[None]], n: list[int]) -> None:
    """Send at a fixed rate (open loop: a slow answer never slows the arrivals) until `until_s`."""
    kinds, weights = list(MIX), list(MIX.values())
    interval = 1.0 / rate
    next_at = run.now()
    while next_at < until_s:
        await asyncio.sleep(max(0.0, next_at - run.now()))
        n[0] += 1
        task = asyncio.create_task(one_request(client, run, rng.choices(kinds, weights)[0], rng, n[0]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += interval


# -- watching the gateway -----------------------------------------------------------------------------------------


async def watch(client: httpx.AsyncClient, run: Run, stop: asyncio.Event) -> None:
    """Every second: each target's state from /admin/status; every 5 s the gateway's RSS, fds and tasks."""
    tick = 0
    while not stop.is_set():
        try:
            status = (await client.get("/admin/status", headers={"authorization": f"Bearer {ADMIN}"})).json()
            t = run.now()
            for route in status["routes"].values():
                for target in route["targets"]:
                    run.states[target["target"]].append((t, target["state"]))
            if tick % 5 == 0:
                run.stats.append((t, (await client.get("/_soak/stats")).json()))
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        tick += 1
        with_timeout = asyncio.create_task(stop.wait())
        await asyncio.wait({with_timeout}, timeout=1.0)
        with_timeout.cancel()


async def pause(admin: httpx.AsyncClient, client: httpx.AsyncClient, run: Run, phase: Phase,
                tasks: set[asyncio.Task[None]]) -> dict[str, int]:
    """Nothing sent: wait for the answers under way, close the load's connections, let the gateway's idle
    upstream connections retire, then read its figures."""
    if tasks:
        await asyncio.wait(set(tasks), timeout=HANG_S + 10)
    await client.aclose()
    await asyncio.sleep(max(1.0, run.start + phase.end - 1.0 - time.time()))
    stats: dict[str, int] = (await admin.get("/_soak/stats?collect=1")).json()
    return stats


def progress(run: Run, phase: str, total_s: float) -> None:
    counts = Counter(r.outcome for r in run.results)
    window = next((w for w in run.windows if w.start <= run.now() < w.end), None)
    fault = f"{window.kind} on {window.target}" if window else "-"
    last = run.stats[-1][1] if run.stats else {}
    print(f"[{run.now():6.0f}/{total_s:.0f} s] {phase:<5} sent={len(run.results) + run.in_flight:<6} "
          f"in-flight={run.in_flight:<4} ok={counts['ok']:<6} clean-errors={counts['clean-error']:<4} "
          f"bad={len(run.results) - counts['ok'] - counts['clean-error']:<3} fault={fault:<26} "
          f"rss={last.get('rss_kb', 0) / 1024:.1f}MB fds={last.get('fds', '?')} tasks={last.get('tasks', '?')}",
          flush=True)


async def load(url: str, run: Run, phases: list[Phase], args: argparse.Namespace) -> dict[str, dict[str, int]]:
    rng = random.Random(args.seed)
    total_s = phases[-1].end
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    readings: dict[str, dict[str, int]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as admin:
        stop = asyncio.Event()
        current = ["load"]
        watcher = asyncio.create_task(watch(admin, run, stop))
        reporter = asyncio.create_task(report_every(run, current, total_s, stop))
        tasks: set[asyncio.Task[None]] = set()
        n = [0]
        client = httpx.AsyncClient(base_url=url, timeout=HANG_S + 5, limits=limits)
        for phase in phases:
            current[0] = phase.kind
            if phase.kind == "load":
                await drive(client, run, args.rate, phase.end, rng, tasks, n)
            else:
                readings[phase.label] = await pause(admin, client, run, phase, tasks)
                client = httpx.AsyncClient(base_url=url, timeout=HANG_S + 5, limits=limits)
                await asyncio.sleep(max(0.0, run.start + phase.end - time.time()))
        await client.aclose()
        stop.set()
        await asyncio.gather(watcher, reporter)
    return readings


async def report_every(run: Run, phase: list[str], total_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with_timeout = asyncio.create_task(stop.wait())
        await asyncio.wait({with_timeout}, timeout=10.0)
        with_timeout.cancel()
        progress(run, phase[0], total_s)


# -- the verdict --------------------------------------------------------------------------------------------------


def recovery(run: Run, window: Window) -> float | None:
    """Seconds from the window's end until every target of that provider was seen healthy again."""
    keys = [k for k in run.states if k.startswith(window.target + "/")]
    worst = 0.0
    for key in keys:
        seen = [t for t, state in run.states[key] if t >= window.end and state == "healthy"]
        if not seen:
            return None
        worst = max(worst, seen[0] - window.end)
    return worst


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def verdict(run: Run, figures: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    results = run.results
    counts = Counter(r.outcome for r in results)
    unexpected = [r for r in results if r.status >= 500 and (r.status == 500 or r.outcome != "clean-error"
                                                             or run.fault_at(r.sent_at) is None)]
    base, end = figures.get("base", figures["clean"]), figures["end"]
    growth = (end["rss_kb"] - base["rss_kb"]) / base["rss_kb"] * 100
    recovered = [(w, recovery(run, w)) for w in run.windows]
    slow = [(w, r) for w, r in recovered if r is None or r > RECOVERY_S]
    hits = sum(r.cache == "hit" for r in results if r.kind == "cache-hit")
    return [
        ("every request answered whole or failed cleanly", counts["unclean"] + counts["wrong"] == 0,
         f"{counts['unclean']} unclean, {counts['wrong']} wrong"),
        ("0 hangs", counts["hang"] == 0, f"{counts['hang']}"),
        ("0 truncated answers passed off as complete", counts["truncated"] == 0, f"{counts['truncated']}"),
        ("0 unexpected 5xx", not unexpected, f"{len(unexpected)} (500s, malformed, or outside a fault window)"),
        # With one cycle the only reading before the faults is the clean one, below the first fault cycle's
        # high-water mark (more answers in flight while targets stall): not judged, only reported.
        ("RSS growth after warm-up < 5%", growth < 5.0 if "base" in figures else None,
         f"{base['rss_kb'] / 1024:.1f} -> {end['rss_kb'] / 1024:.1f} MB ({growth:+.1f}%)"
         + ("" if "base" in figures else "; judged from 2 cycles on (--minutes 6.5 or more)")),
        ("open fds flat", end["fds"] <= base["fds"] + 2, f"{base['fds']} -> {end['fds']}"),
        ("asyncio tasks flat", end["tasks"] <= base["tasks"] + 1, f"{base['tasks']} -> {end['tasks']}"),
        (f"every target back in service within {RECOVERY_S:.0f} s of its fault window", not slow,
         ", ".join(f"{w.kind}@{w.target}: {'never' if r is None else f'{r:.0f} s'}" for w, r in slow) or "all"),
        ("the cache answered the repeated requests", hits > 0, f"{hits} hits"),
    ]


def print_summary(run: Run, figures: dict[str, Any], checks: list[tuple[str, bool | None, str]]) -> None:
    print("\n| kind | requests | ok | clean errors | hangs | truncated | unclean/wrong | p50 s | p99 s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for r in run.results:
        by_kind[r.kind].append(r)
    for kind in [*MIX, "all"]:
        rows = run.results if kind == "all" else by_kind[kind]
        c = Counter(r.outcome for r in rows)
        lat = [r.latency_s for r in rows if r.outcome == "ok"]
        print(f"| {kind} | {len(rows)} | {c['ok']} | {c['clean-error']} | {c['hang']} | {c['truncated']} | "
              f"{c['unclean'] + c['wrong']} | {percentile(lat, 0.5):.3f} | {percentile(lat, 0.99):.3f} |")
    print("\n| fault | target | window (s) | requests sent in it | clean errors | back in service after |")
    print("|---|---|---|---:|---:|---|")
    for w in run.windows:
        inside = [r for r in run.results if w.start <= r.sent_at < w.end]
        back = recovery(run, w)
        print(f"| {w.kind} | {w.target} | {w.start:.0f}-{w.end:.0f} | {len(inside)} | "
              f"{sum(r.outcome == 'clean-error' for r in inside)} | {'never' if back is None else f'{back:.1f} s'} |")
    samples = [s for _, s in run.stats]
    if samples:
        print(f"\ngateway during the run: RSS {min(s['rss_kb'] for s in samples) / 1024:.1f}-"
              f"{max(s['rss_kb'] for s in samples) / 1024:.1f} MB, fds {min(s['fds'] for s in samples)}-"
              f"{max(s['fds'] for s in samples)}, tasks {min(s['tasks'] for s in samples)}-"
              f"{max(s['tasks'] for s in samples)}")
    readings = [f"{label}: RSS {r['rss_kb'] / 1024:.1f} MB, {r['fds']} fds, {r['tasks']} tasks, "
                f"{r['blocks']} Python blocks" for label, r in figures.items()]
    print("quiet readings (nothing in flight): " + ", ".join(readings))
    print("\n| check | result | figures |\n|---|---|---|")
    for name, ok, detail in checks:
        print(f"| {name} | {'not judged' if ok is None else 'PASS' if ok else 'FAIL'} | {detail} |")
    bad = [r for r in run.results if r.outcome not in ("ok", "clean-error")][:5]
    for r in bad:
        print(f"  e.g. {r.kind} at {r.sent_at:.1f} s: {r.outcome} {r.status} {r.detail}")


# -- main ----------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Soak the gateway under faults (bench/README.md, Soak).")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second, all kinds (default 20)")
    parser.add_argument("--seed", type=int, default=18, help="the request mix's random seed")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the configs and the servers' logs")
    parser.add_argument("--serve-gateway", nargs=2, metavar=("CONFIG", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_gateway:
        serve_gateway(args.serve_gateway[0], int(args.serve_gateway[1]))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    total_s = args.minutes * 60
    phases, windows = schedule(total_s)
    ports = {name: free_port() for name in TARGETS}
    fake_ports = {name: free_port() for name in TARGETS}
    gateway_port = free_port()
    (workdir / "gateway.toml").write_text(gateway_config(ports))
    children: list[Child] = []
    try:
        start = time.time() + 8  # t = 0: both servers are up by then
        spec = {"start_at": start, "windows": [w.__dict__ for w in windows],
                "targets": {n: {"proxy": ports[n], "fake": fake_ports[n]} for n in TARGETS}}
        (workdir / "upstreams.json").write_text(json.dumps(spec))
        python = sys.executable
        children.append(Child("upstreams", [python, str(BENCH_DIR / "soak_upstreams.py"),
                                            str(workdir / "upstreams.json")], workdir / "upstreams.log", REPO_ROOT))
        children.append(Child("gateway", [python, str(BENCH_DIR / "soak.py"), "--serve-gateway",
                                          str(workdir / "gateway.toml"), str(gateway_port)],
                              workdir / "gateway.log", REPO_ROOT))
        for name in TARGETS:
            if problem := wait_port(children[0], ports[name], 15):
                raise SystemExit(f"upstreams: {problem}\n{children[0].log_tail()}")
        if problem := wait_ready(children[1], f"http://127.0.0.1:{gateway_port}/healthz", 20):
            raise SystemExit(f"gateway: {problem}\n{children[1].log_tail()}")
        cycles = sum(p.kind == "pause" for p in phases) - 1
        print(f"soak: {phases[-1].end / 60:.1f} min at {args.rate:g} req/s, {cycles} fault cycle(s) of "
              f"{len(KINDS)} windows ({windows[0].end - windows[0].start:.0f} s each; "
              f"{', '.join(KINDS)}); workdir {workdir}", flush=True)
        time.sleep(max(0.0, start - time.time()))
        run = Run(start, windows)
        figures = asyncio.run(load(f"http://127.0.0.1:{gateway_port}", run, phases, args))
        alive = children[1].alive()
    finally:
        for child in children:
            child.stop()
    checks = verdict(run, figures)
    checks.append(("the gateway process stayed up", alive, ""))
    print_summary(run, figures, checks)
    if not args.keep_workdir:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0 if all(ok is not False for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
