"""The figures behind deploy/SCALING.md: what one replica costs per request, and what each request costs Redis.

    .venv/bin/python deploy/scaling.py                  # 5 s per row, about two minutes
    .venv/bin/python deploy/scaling.py --duration 10 --rows plain,fleet

For each row it starts one `gateway serve` (one process: a replica) in front of bench/'s static nginx upstream,
on one throwaway `redis-server`, loads it with wrk (bench/wrk.py's script, 16 connections) and reports:
requests/s; the replica's CPU per request (user + system, from /proc, all threads); Redis round trips per
request (the commands clients sent, counted with MONITOR in a run of their own); the commands Redis ran per
request, those inside Lua scripts included (INFO commandstats); Redis CPU per 1,000 requests (INFO cpu); the
keys a request leaves in Redis and their size (DBSIZE, INFO memory). The gateway runs on one core, wrk, nginx
and Redis on the other, when the machine has two.

Rows (non-stream chat unless said): `plain` (no cache, no keys, no Redis: the floor); `stream` (the same,
streamed); `cache-hit` and `cache-miss` ([cache] in Redis: one body over and over; a new body each time);
`cache-miss-no-lock` (the same with `lock_wait_s = 0`); `limits` (a key with rpm, tpm, max_concurrent and a
budget, [limits] in Redis); `limits-rpm` (the key with rpm only); `responses` (POST /v1/responses, stored in
Redis); `responses-continued` (the same with previous_response_id); `fleet` (a cache miss and the key with every
limit: what a fleet sharing everything pays per new request). Needs nginx, wrk and redis-server (as bench/ does).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis  # the gateway's own client: run this with the repository's .venv

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import targets  # noqa: E402  (bench/ is a directory of scripts, not a package)
import wrk  # noqa: E402
from nginx import Nginx  # noqa: E402
from procs import Child, cpu_seconds, free_port, pin_prefix, pinning_cores, wait_ready  # noqa: E402

ROOT = BENCH.parent
CONNECTIONS = 16

@dataclass
class Row:
    name: str
    cache: str = "none"  # [cache] backend
    keyed: bool = False  # the bench's key (rpm, tpm, max_concurrent, budget) with [limits] in Redis
    rpm_only: bool = False  # the key with rpm only
    no_lock: bool = False  # [cache] lock_wait_s = 0: no cross-replica claim on a miss
    responses: bool = False  # [responses] in Redis
    path: str = "/v1/chat/completions"
    body: str = wrk.chat_request(stream=False)
    unique: bool = False  # a new body for every request (cache misses)
    continued: bool = False  # previous_response_id: a response made before the run


ROWS = [
    Row("plain"),
    Row("stream", body=wrk.chat_request(stream=True)),
    Row("cache-hit", cache="redis"),
    Row("cache-miss", cache="redis", unique=True),
    Row("cache-miss-no-lock", cache="redis", unique=True, no_lock=True),
    Row("limits", keyed=True),
    Row("limits-rpm", keyed=True, rpm_only=True),
    Row("responses", responses=True, path="/v1/responses", body=wrk.responses_request(stream=False)),
    Row("responses-continued", responses=True, path="/v1/responses", body=wrk.responses_request(stream=False),
        continued=True),
    Row("fleet", cache="redis", keyed=True, unique=True),
]


def config(row: Row, port: int, upstream: Nginx, redis_url: str) -> str:
    limits = targets.limits_section("redis", "", redis_url, "scaling:limits:", row.rpm_only) if row.keyed else ""
    text = targets.gateway_config(port, upstream.json_base, upstream.stream_base, cache=row.cache,
                                  redis_url=redis_url if row.cache == "redis" else "", limits=limits)
    if row.no_lock:
        text = text.replace('[cache]\nbackend = "redis"\n', '[cache]\nbackend = "redis"\nlock_wait_s = 0\n')
    return text + (f'\n[responses]\nbackend = "redis"\nredis_url = "{redis_url}"\n' if row.responses else "")


def redis_counts(client: redis.Redis) -> tuple[dict[str, int], float]:
    """Calls so far per command, and Redis' CPU seconds so far."""
    stats = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in client.info("commandstats").items()}
    cpu = client.info("cpu")
    return stats, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


@contextmanager
def redis_server(workdir: Path, core: int | None) -> Iterator[redis.Redis]:
    port = free_port()
    child = Child("redis", [*pin_prefix(core), shutil.which("redis-server") or "redis-server", "--port", str(port),
                            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], workdir / "redis.log")
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        child.stop()


def post(url: str, body: str) -> dict[str, object]:
    request = urllib.request.Request(url, body.encode(), {"content-type": "application/json",
                                                          "authorization": "Bearer sk-bench"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def script_for(row: Row, body: str, path: Path, tag: str) -> Path:
    """bench/wrk.py's script; for `unique` rows a new body for every request (`tag`: new in every run, so that
    no run repeats another's bodies)."""
    wrk.write_script(path, body)
    if row.unique:
        before, after = body.split("Say hello")
        unique = (f"local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, nil, nil, "
                  f"[==[{before}Say hello {tag} ]==] .. n .. [==[{after}]==])\nend\n")
        path.write_text(path.read_text().replace(f"wrk.body = [==[{body}]==]\n", unique))
    return path


def round_trips(store: redis.Redis, run: Callable[[], int], workdir: Path) -> float:
    """Commands that clients sent Redis per request, from MONITOR (which marks those a script ran `[0 lua]`;
    INFO commandstats counts both). MONITOR slows Redis down: it is on only for this run, not the measured one."""
    port = store.connection_pool.connection_kwargs["port"]
    out = workdir / "monitor.log"
    with out.open("wb") as sink:
        monitor = subprocess.Popen([shutil.which("redis-cli") or "redis-cli", "-p", str(port), "monitor"], stdout=sink)
        try:
            time.sleep(0.2)  # MONITOR is on once "OK" is back; nothing else talks to this Redis meanwhile
            requests = run()
            time.sleep(0.5)  # the last lines
        finally:
            monitor.terminate()
            monitor.wait(5)
    lines = [line for line in out.read_text(errors="replace").splitlines() if "] \"" in line]
    sent = [line for line in lines if " lua] " not in line and '"INFO"' not in line and '"PING"' not in line]
    return round(len(sent) / requests, 2)


def measure(row: Row, upstream: Nginx, store: redis.Redis, workdir: Path, cores: tuple[int, int] | None,
            duration_s: float, python: str) -> dict[str, object]:
    port = free_port()
    path = workdir / f"{row.name}.toml"
    path.write_text(config(row, port, upstream, f"redis://127.0.0.1:{store.connection_pool.connection_kwargs['port']}/0"))
    load_core = cores[1] if cores else None
    child = Child(row.name, [*pin_prefix(cores[0] if cores else None), python, "-m", "gateway", "serve",
                             "--config", str(path)], workdir / f"{row.name}.log", cwd=workdir)
    wrk_bin = shutil.which("wrk") or "wrk"
    try:
        if problem := wait_ready(child, f"http://127.0.0.1:{port}/healthz"):
            raise RuntimeError(f"{row.name}: {problem}\n{child.log_tail()}")
        url = f"http://127.0.0.1:{port}{row.path}"
        body = row.body
        if row.continued:
            body = json.dumps({**json.loads(body), "previous_response_id": post(url, body)["id"]})
        def load(seconds: float) -> wrk.WrkResult:
            script = script_for(row, body, workdir / f"{row.name}.lua", uuid.uuid4().hex[:8])
            result = wrk.run(wrk_bin, url, script, CONNECTIONS, seconds, load_core)
            if result.error_count:
                raise RuntimeError(f"{row.name}: wrk saw errors: {result.describe_errors()}\n{child.log_tail()}")
            return result

        load(1)  # warm-up
        trips = round_trips(store, lambda: load(1).requests, workdir)
        stats0, redis_cpu0 = redis_counts(store)
        memory0, keys0 = int(store.info("memory")["used_memory"]), int(store.dbsize())
        cpu0 = cpu_seconds(child.pid)
        result = load(duration_s)
        cpu1 = cpu_seconds(child.pid)
        stats1, redis_cpu1 = redis_counts(store)
        memory1, keys1 = int(store.info("memory")["used_memory"]), int(store.dbsize())
    finally:
        child.stop()
    n = result.requests
    calls = {c: stats1[c] - stats0.get(c, 0) for c in stats1 if c not in ("info", "dbsize")}
    commands = {c: round(k / n, 2) for c, k in calls.items() if k > 0}
    return {"row": row.name, "requests": n, "requests_per_s": round(result.rps), "p50_ms": round(result.p50_ms, 2),
            "cpu_ms_per_request": round((cpu1 - cpu0) * 1000 / n, 3), "redis_round_trips_per_request": trips,
            "redis_commands_run_per_request": commands,
            "redis_cpu_ms_per_1000_requests": round((redis_cpu1 - redis_cpu0) * 1e6 / n, 1),
            "redis_new_keys_per_request": round((keys1 - keys0) / n, 2),
            "redis_bytes_per_new_key": round((memory1 - memory0) / (keys1 - keys0)) if keys1 > keys0 else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per row (default 5)")
    parser.add_argument("--rows", default="", help="comma-separated rows (default: all)")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--output", default="", help="also write the results as JSON here")
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "redis-server"):
        if not (shutil.which(tool) or os.access(f"/usr/sbin/{tool}", os.X_OK)):
            print(f"needs {tool}: apt-get install -y nginx wrk redis-server", file=sys.stderr)
            return 2
    cores = pinning_cores()
    results = []
    with tempfile.TemporaryDirectory(prefix="gateway-scaling-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        upstream = Nginx(shutil.which("nginx") or "/usr/sbin/nginx", workdir, cores[1] if cores else None)
        stack.callback(upstream.stop)
        if problem := upstream.wait():
            raise RuntimeError(problem)
        store = stack.enter_context(redis_server(workdir, cores[1] if cores else None))
        wanted = set(filter(None, args.rows.split(",")))
        for row in ROWS:
            if wanted and row.name not in wanted:
                continue
            result = measure(row, upstream, store, workdir, cores, args.duration, args.python)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
