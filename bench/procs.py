"""Child processes for the benchmark: start pinned, wait until ready, measure peak RSS, stop for sure.

Every child is started in its own session (process group), so stopping it also stops whatever it
spawned (nginx workers, uvicorn workers). Stdlib only: run.py must work with any Python 3.11.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin_prefix(core: int | None) -> list[str]:
    """`taskset -c CORE` to prepend to a command, or nothing when pinning is off."""
    return [] if core is None else ["taskset", "-c", str(core)]


def pinning_cores() -> tuple[int, int] | None:
    """(server core, load core) = (0, 1) when taskset exists and both cores are usable, else None."""
    if shutil.which("taskset") is None:
        return None
    usable = os.sched_getaffinity(0)
    return (0, 1) if {0, 1} <= usable else None


class Child:
    """One long-running child process with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM to the whole process group, then SIGKILL whatever is left after `grace_s`."""
        if self.alive():
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        # The group may outlive its leader (e.g. a worker whose master died): kill it in every case.
        _signal_group(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_ready(child: Child, url: str, timeout_s: float = 20.0) -> str | None:
    """Poll `GET url` until it answers 200. None when ready, else why not (exit, timeout)."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        if not child.alive():
            return f"exited with code {child.proc.returncode} before it was ready"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return None
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:
            last_error = str(getattr(exc, "reason", exc))
        time.sleep(0.1)
    return f"not ready within {timeout_s:.0f} s ({last_error})"


def wait_port(child: Child, port: int, timeout_s: float = 10.0) -> str | None:
    """Wait until something accepts TCP connections on 127.0.0.1:port. None when it does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            return f"exited with code {child.proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return None
        except OSError:
            time.sleep(0.05)
    return f"port {port} not open within {timeout_s:.0f} s"


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(_children(child))
    return found


def vm_hwm_kb(pid: int) -> int | None:
    """Peak resident set size (VmHWM) of one process, in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def peak_rss_mb(pid: int, child_must_contain: str = "") -> float | None:
    """VmHWM in MB of the process that does the serving: `pid` itself, or, when it spawned children
    (uvicorn workers, nginx workers) whose command line contains `child_must_contain`, the largest of
    those. Python's helper processes (multiprocessing's resource tracker) are left out."""
    candidates = [
        child
        for child in _descendants(pid)
        if child_must_contain in _cmdline(child) and "resource_tracker" not in _cmdline(child)
        and TELEMETRY_PROCESS not in _cmdline(child)
    ]
    values = [kb for kb in (vm_hwm_kb(p) for p in (candidates or [pid])) if kb is not None]
    return max(values) / 1024 if values else None


TELEMETRY_PROCESS = "gateway.telemetry.process"


def telemetry_processes(pid: int) -> list[int]:
    """The gateway's telemetry process(es) (`python -m gateway.telemetry.process`), one per serving process."""
    return [child for child in _descendants(pid) if TELEMETRY_PROCESS in _cmdline(child)]


def pin_all_threads(pid: int, core: int) -> None:
    """Move every thread of `pid` to `core` (a thread created later inherits its creator's core)."""
    try:
        tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return
    for task in tasks:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(task, {core})


def row_processes(pid: int) -> list[int]:
    """Every process of a row: the one started and all its descendants (uvicorn workers, a telemetry process,
    multiprocessing's resource tracker, whatever the gateway starts), read from /proc now."""
    return [pid, *_descendants(pid)]


def pin_row(pid: int, core: int | None) -> list[int]:
    """Pin every thread of every process of a row to `core` (threads and children created later inherit it);
    the processes pinned. A no-op when pinning is off."""
    pids = row_processes(pid)
    if core is not None:
        for each in pids:
            pin_all_threads(each, core)
    return pids


def off_core_threads(pid: int, core: int) -> list[str]:
    """Threads of a row allowed to run anywhere but `core` (should be none after `pin_row`): "pid/tid: cpus"."""
    found = []
    for each in row_processes(pid):
        try:
            tasks = [int(t) for t in os.listdir(f"/proc/{each}/task")]
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):
                allowed = os.sched_getaffinity(task)
                if allowed != {core}:
                    found.append(f"{each}/{task}: {sorted(allowed)}")
    return found


class RowCpu:
    """CPU seconds of a row's processes, summed, between two readings. A process that exits in between is
    counted up to its last reading (its children's time is not in its own counters: each is read itself)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = {each: cpu_seconds(each) for each in row_processes(pid)}

    def spent(self) -> tuple[float, int]:
        """(CPU seconds since the start, processes seen) over the row's processes now and at the start."""
        now = {each: cpu_seconds(each) for each in row_processes(self.pid)}
        total = 0.0
        for each in set(self.start) | set(now):
            begin, end = self.start.get(each, 0.0), now.get(each, self.start.get(each, 0.0))
            total += max(0.0, end - begin)
        return total, len(set(self.start) | set(now))


def row_peak_rss_mb(pid: int) -> tuple[float | None, int]:
    """(VmHWM summed over every process of a row, in MB; how many processes)."""
    values = [kb for kb in (vm_hwm_kb(p) for p in row_processes(pid)) if kb is not None]
    return (sum(values) / 1024 if values else None), len(values)


def serving_processes(pid: int) -> int:
    """How many processes of a row serve requests: uvicorn's workers when it spawned them, else the one started."""
    workers = [child for child in _descendants(pid) if "python" in _cmdline(child)
               and "resource_tracker" not in _cmdline(child) and TELEMETRY_PROCESS not in _cmdline(child)]
    return max(1, len(workers))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_line(argv: list[str]) -> str:
    """First line a `--version`-like command prints; its whole process group is killed if it hangs."""
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    except OSError:
        return "unknown"
    try:
        output, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        output = "unknown"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    lines = output.strip().splitlines()
    return lines[0] if lines else ""
