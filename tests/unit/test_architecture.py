"""STYLE.md's rules about what may import what, checked by walking gateway/ with ast; and ruff."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gateway"


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(under: str = "") -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py"))


def test_opentelemetry_only_under_telemetry() -> None:
    for path in modules():
        if "telemetry" in path.relative_to(PACKAGE).parts:
            continue
        assert not any(n.startswith("opentelemetry") for n in imports(path)), path


def test_providers_do_not_reach_up() -> None:
    forbidden = ("gateway.dispatch", "gateway.routing", "gateway.cache", "gateway.endpoints", "gateway.app",
                 "gateway.telemetry")
    for path in modules("providers"):
        assert not any(n.startswith(forbidden) for n in imports(path)), path


def test_routing_does_no_io() -> None:
    forbidden = ("httpx", "aiohttp", "gateway.providers", "socket", "asyncio")
    for path in modules("routing"):
        assert not any(n.startswith(forbidden) for n in imports(path)), path


def test_nothing_imports_the_composition_root() -> None:
    for path in modules():
        if path.name in ("app.py", "cli.py"):
            continue
        assert "gateway.app" not in imports(path), path


def test_no_module_level_mutable_state() -> None:
    for path in modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Global):
                pytest.fail(f"{path}: global statement")
            for inner in ast.walk(node):
                assert not isinstance(inner, ast.Global), f"{path}: global statement"


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    targets = [d for d in ("gateway", "tests", "bench") if (ROOT / d).is_dir()]
    result = subprocess.run([ruff, "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
