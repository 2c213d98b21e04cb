"""The results: what was measured for each target, and how it is printed and saved."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from wrk import WrkResult

MODES = ("non-stream", "stream")
TARGET_ORDER = ("upstream", "passthrough", "gateway", "gateway-otel", "gateway-otel-sampled", "gateway-otel-metrics",
                "gateway-no-ui", "gateway-responses",
                "gateway-keys-rpm", "gateway-keys",
                "gateway-keys-redis", "gateway-cache-memory", "gateway-cache-redis")
CACHE_ROWS = {"gateway-cache-memory": "memory", "gateway-cache-redis": "redis"}
# The keyed rows: one key with limits and a budget that never refuse during a run (targets.py).
KEYED_ROWS = {"gateway-keys-rpm": "memory", "gateway-keys": "memory", "gateway-keys-redis": "redis"}
# Each of these rows is also measured side by side with BASELINE, cell by cell (run.py): their req/s ratio is
# what the row adds. Label in the report, and the guide (the least ratio that is fine), if any.
BASELINE = "gateway"
# The telemetry rows (issue 14): each with its own OTLP/HTTP receiver on the load core; every process of the row
# on the gateway core. Their guide: at least 80% of telemetry-off req/s at c=16 (both modes), at most 10 MB more
# peak RSS per serving process.
OTEL_ROWS = {
    "gateway-otel": "telemetry, every request traced",
    "gateway-otel-sampled": "telemetry, trace_sample_ratio = 0.1",
    "gateway-otel-metrics": "telemetry, metrics only (traces = false)",
}
OTEL_GUIDE_RSS_MB = 10.0
# The concurrencies a row's guide is judged at (a row not here: every concurrency).
GUIDE_AT = {name: {16} for name in OTEL_ROWS}
PAIRED = {
    **{name: (label, 0.80) for name, label in OTEL_ROWS.items()},
    # the live page's cost is 1 - gateway ÷ this row (guide: gateway keeps at least 97%, so at most 103% here)
    "gateway-no-ui": ("live page (/ui) off", None),
    "gateway-responses": ("POST /v1/responses (translated, stored) instead of chat", 0.85),
    "gateway-keys-rpm": ("key with rpm (memory)", 0.95),
    "gateway-keys": ("key with rpm, tpm, max_concurrent, budget (memory)", None),
    "gateway-keys-redis": ("key with rpm, tpm, max_concurrent, budget (redis)", None),
}


@dataclass
class TargetResult:
    name: str
    skipped: str | None = None  # why the target was not (fully) measured
    rss_mb: float | None = None
    check_failures: dict[str, str] = field(default_factory=dict)  # mode -> what was wrong with one answer
    cells: dict[str, dict[int, WrkResult]] = field(default_factory=lambda: {mode: {} for mode in MODES})
    cell_failures: dict[str, dict[int, str]] = field(default_factory=lambda: {mode: {} for mode in MODES})
    sent: int = 0  # requests answered in all, warm-ups and answer checks included
    # CPU µs per request in the measured runs: (every process of the row summed, of which the process started)
    cpu_us: dict[str, dict[int, tuple[float, float]]] = field(default_factory=lambda: {mode: {} for mode in MODES})
    # A PAIRED row loaded at the same time as BASELINE (run.py side_by_side): each round's result, per cell ...
    shared: dict[str, dict[int, list[WrkResult]]] = field(default_factory=lambda: {mode: {} for mode in MODES})
    # ... the serving process's CPU per request in those rounds (µs) ...
    shared_cpu_us: dict[str, dict[int, list[float]]] = field(default_factory=lambda: {mode: {} for mode in MODES})
    # ... and BASELINE's result and CPU per request in the same rounds
    shared_base: dict[str, dict[int, list[WrkResult]]] = field(default_factory=lambda: {mode: {} for mode in MODES})
    shared_base_cpu_us: dict[str, dict[int, list[float]]] = field(
        default_factory=lambda: {mode: {} for mode in MODES})
    # OTEL_ROWS: rounds of the row and BASELINE each loaded alone, back to back (run.py alternated):
    # (row req/s, BASELINE req/s, row CPU us per request, BASELINE's, errors) per round
    alternated: dict[str, dict[int, list[tuple[float, float, float, float, int]]]] = field(
        default_factory=lambda: {mode: {} for mode in MODES})
    telemetry: dict[str, object] | None = None  # OTEL_ROWS: what the row's OTLP receiver got (bench/otlp_sink.py)
    processes: int = 0  # how many processes the row had when its peak RSS (summed over them) was read
    serving_processes: int = 1  # of which serve requests (uvicorn workers, or the one process started)
    cpu_processes: int = 0  # the most processes whose CPU was summed in one cell
    # KEYED_ROWS: every wrk run (warm-ups and rounds too) that got answers with HTTP status >= 400: a refused
    # request is cheaper than a served one, so the row's numbers are void
    refusals: list[str] = field(default_factory=list)
    usage: dict[str, object] | str | None = None  # KEYED_ROWS: GET /admin/usage after the row's runs, or an error

    def cell(self, mode: str, connections: int) -> WrkResult | None:
        return self.cells[mode].get(connections)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(value: float) -> str:
    """Latency with about three significant digits: 0.012, 1.23, 12.3, 123."""
    digits = 3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0
    return _num(value, digits)


def _cell_texts(result: WrkResult | None) -> list[str]:
    if result is None:
        return ["-", "-", "-"]
    flag = "!" if result.error_count else ""
    return [_num(result.rps, 0) + flag, _ms(result.p50_ms), _ms(result.p99_ms)]


def format_table(mode: str, results: dict[str, TargetResult], concurrencies: list[int]) -> str:
    """One aligned table for `mode`: a row per target; req/s, p50 and p99 for each concurrency; RSS."""
    header_groups = ["", *[f"c={c}" for c in concurrencies], ""]
    header = ["target", *(["req/s", "p50 ms", "p99 ms"] * len(concurrencies)), "RSS MB"]
    rows: list[list[str]] = []
    for name in TARGET_ORDER:
        if name not in results:
            continue
        target = results[name]
        row = [name]
        for c in concurrencies:
            row += _cell_texts(target.cell(mode, c))
        row.append(_num(target.rss_mb, 1))
        rows.append(row)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    # Each concurrency's group label is centred over its three columns.
    group_line = [header_groups[0].ljust(widths[0])]
    for index in range(len(concurrencies)):
        span = sum(widths[1 + 3 * index : 4 + 3 * index]) + 2 * 2
        group_line.append(header_groups[1 + index].center(span, "-"))
    group_line.append(" " * widths[-1])
    lines = [f"== {mode} ==", " | ".join(group_line).rstrip(), _join(header, widths)]
    lines.append(_join(["-" * w for w in widths], widths).replace(" | ", "-+-").replace(" ", "-"))
    lines += [_join(row, widths) for row in rows]
    return "\n".join(lines)


def _join(cells: list[str], widths: list[int]) -> str:
    parts = [cells[0].ljust(widths[0])]
    index = 1
    while index < len(cells) - 1:
        parts.append("  ".join(cells[i].rjust(widths[i]) for i in range(index, index + 3)))
        index += 3
    parts.append(cells[-1].rjust(widths[-1]))
    return " | ".join(parts)


def _ratio(a: WrkResult | None, b: WrkResult | None) -> str:
    if a is None or b is None or b.rps == 0:
        return "n/a"
    percent = 100 * a.rps / b.rps
    flag = "!" if a.error_count or b.error_count else ""
    return (f"{percent:.1f}%" if percent < 10 else f"{percent:.0f}%") + flag


def format_ratios(mode: str, results: dict[str, TargetResult], concurrencies: list[int]) -> str:
    def get(name: str, c: int) -> WrkResult | None:
        return results[name].cell(mode, c) if name in results else None

    def per_c(a: str, b: str) -> str:
        return "  ".join(f"c={c} {_ratio(get(a, c), get(b, c))}" for c in concurrencies)

    lines = [f"  gateway / passthrough req/s:  {per_c('gateway', 'passthrough')}"]
    first = concurrencies[0]
    gateway, passthrough = get("gateway", first), get("passthrough", first)
    delta = "n/a" if gateway is None or passthrough is None else f"{gateway.p50_ms - passthrough.p50_ms:+.2f} ms"
    lines.append(f"  gateway p50 - passthrough p50 at c={first}:  {delta}")
    lines.append(f"  passthrough / upstream req/s: {per_c('passthrough', 'upstream')}")
    paired = [name for name in PAIRED if name in results and BASELINE in results]
    if paired:
        guides = ", ".join(f"{PAIRED[name][0]} >= {100 * guide:.0f}%"
                           + (f" at c={','.join(map(str, sorted(GUIDE_AT[name])))}" if name in GUIDE_AT else "")
                           for name in paired if (guide := PAIRED[name][1]) is not None)
        lines.append(f"  side by side with {BASELINE} (both loaded at once), req/s ratio, median of rounds (range)"
                     + (f"; guide: {guides}" if guides else "") + ":")
        for name in paired:
            for c in concurrencies:
                lines.append(f"    {PAIRED[name][0]} ÷ {BASELINE}, {mode} c={c}: "
                             + paired_ratio(results[name], mode, c))
    if any(name in results for name in OTEL_ROWS):
        lines += cpu_lines(results, mode, concurrencies)
    for row, backend in CACHE_ROWS.items():
        if row not in results:
            continue
        lines.append(f"  cache hit ({backend}) / gateway req/s:      {per_c(row, 'gateway')}")
        lines.append(f"  cache hit ({backend}) / passthrough req/s:  {per_c(row, 'passthrough')}")
        p50s = ", ".join(f"{name} {_ms(cell.p50_ms)}" for name in ("gateway", "passthrough")
                         if (cell := get(name, first)) is not None)
        if (hit := get(row, first)) is not None:
            lines.append(f"  cache hit ({backend}) p50 at c={first}: {_ms(hit.p50_ms)} ms ({p50s})")
    return "\n".join(lines)


def format_delivery(result: TargetResult) -> str:
    """Whether the spans of every request reached the receiver: a telemetry cost that drops data is not one
    (expected: about 100% for gateway-otel, about 10% sampled, 0 and metric points for metrics only)."""
    spans = result.telemetry.get("spans", {}) if result.telemetry else {}
    assert isinstance(spans, dict)
    server, client = int(spans.get("SERVER", 0)), int(spans.get("CLIENT", 0))
    share = f"{100 * server / result.sent:.1f}%" if result.sent else "n/a"
    return (f"{result.name}: the receiver got {server:,} SERVER and {client:,} CLIENT spans for {result.sent:,} "
            f"requests ({share}), {result.telemetry.get('metric_points', 0) if result.telemetry else 0:,} "
            "metric points")


def paired_ratio(result: TargetResult, mode: str, c: int) -> str:
    """A PAIRED row's req/s / BASELINE's in the rounds they ran side by side: the median of the rounds' ratios
    and their range. A keyed row with a refused request has none: its requests were not all served."""
    if result.name in KEYED_ROWS and result.refusals:
        return f"VOID: {result.name} refused requests (see Problems)"
    rounds = list(zip(result.shared[mode].get(c, []), result.shared_base[mode].get(c, []), strict=False))
    ratios = sorted(row.rps / base.rps for row, base in rounds if base.rps)
    if not ratios:
        return "n/a"
    flag = "!" if any(row.error_count or base.error_count for row, base in rounds) else ""
    spread = f" ({100 * ratios[0]:.0f}-{100 * ratios[-1]:.0f})" if len(ratios) > 1 else ""
    guide = PAIRED[result.name][1]
    judged = guide is not None and c in GUIDE_AT.get(result.name, {c})
    text = f"{100 * statistics.median(ratios):.0f}%{flag}{spread}, {len(ratios)} round{'s' * (len(ratios) > 1)}"
    if result.name in OTEL_ROWS:
        # Side by side, a row with more processes or busy threads than BASELINE gets more than half of the shared
        # core (the kernel shares a core between threads, not between rows), so its req/s ratio flatters it:
        # BASELINE's CPU per request ÷ the row's in the same round is printed too. The guide is judged on the
        # rounds alone, back to back (`alternated`): each row with the core to itself, as in production.
        cpu = sorted(base / own for own, base in zip(result.shared_cpu_us[mode].get(c, []),
                                                     result.shared_base_cpu_us[mode].get(c, []), strict=False) if own)
        alone = sorted(own / base for own, base, *_ in result.alternated[mode].get(c, []) if base)
        parts = []
        if alone:
            below = "  BELOW GUIDE" if judged and guide is not None and statistics.median(alone) < guide else ""
            bang = "!" if any(errors for *_, errors in result.alternated[mode].get(c, [])) else ""
            parts.append(f"alone back to back {_median_range(alone)}{bang}{below}")
        parts.append(f"side by side {text}")
        if cpu:
            parts.append(f"by CPU per request side by side {_median_range(cpu)}")
        return "; ".join(parts)
    below = "  BELOW GUIDE" if judged and guide is not None and statistics.median(ratios) < guide else ""
    return text + below


def _median_range(values: list[float]) -> str:
    spread = f" ({100 * values[0]:.0f}-{100 * values[-1]:.0f})" if len(values) > 1 else ""
    return f"{100 * statistics.median(values):.0f}%{spread}"


def cpu_lines(results: dict[str, TargetResult], mode: str, concurrencies: list[int]) -> list[str]:
    """CPU µs per request summed over every process of a row (/proc), for `gateway` (telemetry off) and each
    telemetry row: alone (each row's own cell) and side by side (median of the rounds, both rows' own figure)."""
    rows = [name for name in (BASELINE, *OTEL_ROWS) if name in results]
    lines = ["  CPU us per request, every process of the row summed (serving + children), alone in the row's cell; "
             "[side by side: this row / gateway, medians of rounds]; {alone back to back: this row / gateway, "
             "medians}:"]
    for name in rows:
        parts = []
        for c in concurrencies:
            found = results[name].cpu_us[mode].get(c)
            text = "-" if found is None else f"{found[0]:,.0f}"
            if found is not None and found[0] - found[1] >= 0.5:
                text += f" ({found[1]:,.0f} serving + {found[0] - found[1]:,.0f} children)"
            shared, base = results[name].shared_cpu_us[mode].get(c), results[name].shared_base_cpu_us[mode].get(c)
            if shared and base:
                text += f" [{statistics.median(shared):,.0f} / {statistics.median(base):,.0f}]"
            alone = results[name].alternated[mode].get(c)
            if alone:
                text += (f" {{{statistics.median(r[2] for r in alone):,.0f} / "
                         f"{statistics.median(r[3] for r in alone):,.0f}}}")
            parts.append(f"c={c} {text}")
        lines.append(f"    {name}: " + "  ".join(parts))
    return lines


def format_rss(results: dict[str, TargetResult]) -> list[str]:
    """Peak RSS summed over every process of the telemetry rows against `gateway` (telemetry off), and the
    difference per serving process (guide: at most OTEL_GUIDE_RSS_MB more)."""
    base = results.get(BASELINE)
    if base is None or base.rss_mb is None or not any(name in results for name in OTEL_ROWS):
        return []
    lines = [f"peak RSS (VmHWM) summed over every process of a row; guide: telemetry adds at most "
             f"{OTEL_GUIDE_RSS_MB:g} MB per serving process:",
             f"  {BASELINE} (telemetry off): {base.rss_mb:.1f} MB in {base.processes} process(es)"]
    for name in OTEL_ROWS:
        row = results.get(name)
        if row is None or row.rss_mb is None:
            continue
        more = (row.rss_mb - base.rss_mb) / max(row.serving_processes, 1)
        flag = "  ABOVE GUIDE" if more > OTEL_GUIDE_RSS_MB else ""
        lines.append(f"  {name}: {row.rss_mb:.1f} MB in {row.processes} process(es), {row.serving_processes} "
                     f"serving: {more:+.1f} MB per serving process{flag}")
    return lines


def format_usage(result: TargetResult) -> str:
    """What the keyed row's limiter counted (GET /admin/usage) against what was sent: every request served must
    have been admitted and settled (a Redis failure that let calls through, or lost a settle, shows here)."""
    if not isinstance(result.usage, dict):
        return f"{result.name}: usage not read: {result.usage or 'the server was not running'}"
    keys = result.usage.get("keys", {})
    bench = keys.get("bench", {}) if isinstance(keys, dict) else {}
    assert isinstance(bench, dict)
    counted = int(bench.get("requests", 0))
    share = f"{100 * counted / result.sent:.1f}%" if result.sent else "n/a"
    return (f"{result.name}: the limiter ({result.usage.get('backend')}) counted {counted:,} requests for "
            f"{result.sent:,} sent ({share}), {int(bench.get('input_tokens', 0)):,} + "
            f"{int(bench.get('output_tokens', 0)):,} tokens, ${float(bench.get('cost_usd', 0)):.4f}")


def format_problems(results: dict[str, TargetResult]) -> list[str]:
    """Every run with errors, failed answer check, failed cell and skipped target, one per line."""
    lines: list[str] = []
    for name in TARGET_ORDER:
        target = results.get(name)
        if target is None:
            continue
        if target.skipped:
            lines.append(f"{name}: SKIPPED: " + target.skipped.replace("\n", "\n      "))
        lines += [f"{name}: REFUSED: {refusal}" for refusal in target.refusals]
        for mode, problem in target.check_failures.items():
            lines.append(f"{name} {mode}: answer check FAILED: {problem}")
        for mode in MODES:
            for c, result in sorted(target.cells[mode].items()):
                if result.error_count:
                    lines.append(
                        f"{name} {mode} c={c}: ERRORS: {result.describe_errors()} of {result.requests} requests"
                    )
            for c, problem in sorted(target.cell_failures[mode].items()):
                lines.append(f"{name} {mode} c={c}: FAILED: {problem}")
    return lines


def format_report(results: dict[str, TargetResult], concurrencies: list[int], duration_s: float) -> str:
    parts = []
    for mode in MODES:
        parts.append(format_table(mode, results, concurrencies))
        parts.append(format_ratios(mode, results, concurrencies))
        parts.append("")
    parts.append(
        f"wrk -t1, {duration_s:g} s per cell after a warm-up; latency in ms; RSS = peak (VmHWM) after all runs, "
        "summed over every process of the row."
    )
    parts.append(
        "'!': a run with errors (listed below), its numbers are not comparable. Compare ratios within one run."
    )
    for name in OTEL_ROWS:
        if (otel := results.get(name)) is not None and otel.telemetry is not None:
            parts.append(format_delivery(otel))
    parts += format_rss(results)
    for name in KEYED_ROWS:
        if (keyed := results.get(name)) is not None and not keyed.skipped:
            parts.append(format_usage(keyed))
    problems = format_problems(results)
    if problems:
        parts.append("")
        parts.append("Problems:")
        parts += [f"  {line}" for line in problems]
    return "\n".join(parts)


def write_json(path: Path, results: dict[str, TargetResult], meta: dict[str, object]) -> None:
    targets: dict[str, object] = {}
    for name, target in results.items():
        targets[name] = {
            "skipped": target.skipped,
            "rss_mb": target.rss_mb,  # peak RSS summed over every process of the row
            "processes": target.processes,
            "serving_processes": target.serving_processes,
            "cpu_processes": target.cpu_processes,
            "sent": target.sent,
            "cpu_us_per_request": {mode: {str(c): list(v) for c, v in cells.items()}
                                   for mode, cells in target.cpu_us.items()},
            "side_by_side_rps": {mode: {str(c): [cell.rps for cell in runs] for c, runs in cells.items()}
                                 for mode, cells in target.shared.items()},
            "side_by_side_cpu_us_per_request": {mode: {str(c): runs for c, runs in cells.items()}
                                                for mode, cells in target.shared_cpu_us.items()},
            # BASELINE's figures in the same rounds (a PAIRED row's ratio is side_by_side_rps / these)
            "side_by_side_baseline_rps": {mode: {str(c): [cell.rps for cell in runs] for c, runs in cells.items()}
                                          for mode, cells in target.shared_base.items()},
            "side_by_side_baseline_cpu_us_per_request": {mode: {str(c): runs for c, runs in cells.items()}
                                                         for mode, cells in target.shared_base_cpu_us.items()},
            "alternated_alone": {mode: {str(c): [dict(zip(("rps", "baseline_rps", "cpu_us", "baseline_cpu_us",
                                                          "errors"), r, strict=True)) for r in runs]
                                        for c, runs in cells.items()} for mode, cells in target.alternated.items()},
            "refusals": target.refusals,
            "usage": target.usage,
            "telemetry": target.telemetry,
            "check_failures": target.check_failures,
            "cells": {
                mode: {str(c): result.to_json() for c, result in sorted(cells.items())}
                for mode, cells in target.cells.items()
            },
            "cell_failures": {mode: {str(c): p for c, p in f.items()} for mode, f in target.cell_failures.items()},
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "targets": targets}, indent=2) + "\n")
