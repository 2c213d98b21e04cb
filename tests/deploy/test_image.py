"""deploy/Dockerfile, checked without Docker: what the image runs agrees with the gateway's CLI, and everything
the gateway reads at run time is in the wheel the image is built from (the image installs the wheel, not the
source tree, so a data file that is not package data is missing there only)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()


def instruction(name: str) -> list[str]:
    """Each `NAME ...` instruction's arguments (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", text, re.MULTILINE)]


def test_every_data_file_of_the_gateway_is_package_data() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = [f"{package.replace('.', '/')}/{p}" for package, files in declared.items() for p in files]
    data = [p.relative_to(ROOT).as_posix() for p in (ROOT / "gateway").rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    missing = [f for f in data if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert missing == [], f"not in the wheel (add to [tool.setuptools.package-data]): {missing}"


def test_the_image_runs_gateway_serve_as_a_non_root_user_on_its_exposed_port() -> None:
    (user,) = instruction("USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user)  # numeric and not root: Kubernetes' runAsNonRoot checks it
    (cmd,) = instruction("CMD")
    (expose,) = instruction("EXPOSE")
    assert cmd == f'["serve", "--host", "0.0.0.0", "--port", "{expose}"]'
    (healthcheck,) = instruction("HEALTHCHECK")
    assert f"http://127.0.0.1:{expose}/healthz" in healthcheck
    (config,) = [e for e in instruction("ENV") if e.startswith("GATEWAY_CONFIG=")]
    assert config == "GATEWAY_CONFIG=/etc/gateway/gateway.toml"
    assert len(instruction("FROM")) == 2  # a build stage and a slim runtime
