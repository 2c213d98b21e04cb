"""deploy/kubernetes/: every manifest is valid against the Kubernetes schemas (offline, with the schemas
`kubernetes-validate` ships), and the Deployment agrees with the gateway itself: its args are `gateway serve`'s,
its port is the one the probes, the Service and the config use, the config is where the CLI looks for it and
loads with the gateway's own loader, the grace period covers the drain, and the probes answer as documented from
a real `gateway serve` started with the container's args and environment."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from gateway.config import load_config
from gateway.telemetry.setup import SHUTDOWN_TIMEOUT_S
from tests.support import closed_port, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBE = DEPLOY / "kubernetes"
# The oldest Kubernetes still commonly run, and the newest the installed kubernetes-validate knows.
VERSIONS = ("1.28.0", kubernetes_validate.latest_version())


def kustomization() -> dict[str, Any]:
    return dict(yaml.safe_load((KUBE / "kustomization.yaml").read_text()))


def objects() -> list[dict[str, Any]]:
    """What `kubectl apply -k` creates: the listed resources and the generated ConfigMaps (without their hash
    suffix), in the kustomization's namespace."""
    kust = kustomization()
    found: list[dict[str, Any]] = []
    for name in kust["resources"]:
        found += [doc for doc in yaml.safe_load_all((KUBE / name).read_text()) if doc]
    for generator in kust.get("configMapGenerator", ()):
        data = {Path(f).name: (KUBE / f).read_text() for f in generator["files"]}
        found.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data})
    return found


def one(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name)
    return matches[0]


def gateway_container() -> tuple[dict[str, Any], dict[str, Any]]:
    """The Deployment's pod spec and its gateway container."""
    pod = one("Deployment", "llm-gateway")["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "gateway"]
    return pod, container


def secret_env() -> dict[str, str]:
    return {k: str(v) for k, v in one("Secret", "llm-gateway-secrets")["stringData"].items()}


def config_path() -> Path:
    """The file in the kustomization that becomes $GATEWAY_CONFIG in the container."""
    pod, container = gateway_container()
    env = {e["name"]: e.get("value") for e in container["env"]}
    (mount,) = [m for m in container["volumeMounts"] if env["GATEWAY_CONFIG"].startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = one("ConfigMap", volume["configMap"]["name"])
    key = env["GATEWAY_CONFIG"].removeprefix(mount["mountPath"] + "/")
    assert key in configmap["data"], f"{env['GATEWAY_CONFIG']} is not a key of ConfigMap {volume['configMap']['name']}"
    (generator,) = [g for g in kustomization()["configMapGenerator"] if g["name"] == volume["configMap"]["name"]]
    (source,) = [str(f) for f in generator["files"] if Path(f).name == key]
    return KUBE / source


def test_the_kustomization_lists_every_manifest_here() -> None:
    kust = kustomization()
    listed = set(kust["resources"]) | {f for g in kust.get("configMapGenerator", ()) for f in g["files"]}
    here = {p.name for p in KUBE.iterdir() if p.suffix in (".yaml", ".toml") and p.name != "kustomization.yaml"}
    assert listed == here
    namespaces = [o for o in objects() if o["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [kust["namespace"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    for obj in objects():
        kubernetes_validate.validate(obj, version, strict=True)  # raises on an unknown or misplaced field


def test_kubectl_builds_the_same_objects() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl here: the kustomization is checked by hand above")
    built = [d for d in yaml.safe_load_all(subprocess.run([kubectl, "kustomize", str(KUBE)], check=True,
                                                          capture_output=True, text=True).stdout) if d]
    for obj in built:
        kubernetes_validate.validate(obj, VERSIONS[-1], strict=True)
    strip = re.compile(r"-[a-z0-9]{10}$")  # the generated ConfigMap's hash suffix
    assert sorted((o["kind"], strip.sub("", o["metadata"]["name"])) for o in built) == \
        sorted((o["kind"], o["metadata"]["name"]) for o in objects())


def test_ports_probes_and_service_agree_with_the_gateway() -> None:
    pod, container = gateway_container()
    args = container["args"]
    assert args[0] == "serve" and args[args.index("--port") + 1] == "8080"
    (http,) = container["ports"]
    assert http == {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/healthz"
    assert {p["port"] for p in probes.values()} == {"http"}
    config, _ = load_config_with_secret(config_path())
    assert config.server.port == 8080  # the same as --port, were the args to lose it

    labels = one("Deployment", "llm-gateway")["spec"]["template"]["metadata"]["labels"]
    annotations = one("Deployment", "llm-gateway")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8080" and config.telemetry.prometheus
    service = one("Service", "llm-gateway")["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"
    pdb = one("PodDisruptionBudget", "llm-gateway")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items() and pdb["maxUnavailable"] == 1
    assert one("Deployment", "llm-gateway")["spec"]["replicas"] >= 2
    hpa = one("HorizontalPodAutoscaler", "llm-gateway")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm-gateway"}
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert container["resources"]["requests"]["cpu"]  # utilization is a share of the request
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def load_config_with_secret(path: Path) -> tuple[Any, list[str]]:
    """The gateway's own loader on `path`, with the Secret's values in the environment (as in the pod)."""
    saved = dict(os.environ)
    os.environ.update(secret_env())
    try:
        return load_config(path)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_config_is_where_the_cli_looks_and_loads_without_a_warning() -> None:
    _, container = gateway_container()
    env = {e["name"]: e.get("value") for e in container["env"]}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"ENV GATEWAY_CONFIG={env['GATEWAY_CONFIG']}" in dockerfile  # the image's default is the same path
    assert "--config" not in container["args"]  # so $GATEWAY_CONFIG is what `gateway serve` reads
    assert container["envFrom"] == [{"secretRef": {"name": "llm-gateway-secrets"}}]
    config, warnings = load_config_with_secret(config_path())
    assert warnings == []  # every ${VAR} it reads is in the Secret
    # The root filesystem is read-only: nothing may be written locally, so the state is in Redis.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert config.limits.backend == "redis" and config.cache.backend == "redis"
    assert config.response_store()[0] == "redis"
    redis = one("Service", "redis")["spec"]["ports"][0]["port"]
    assert config.state.redis_url == f"redis://redis:{redis}/0"
    collector = {p["name"]: p["port"] for p in one("Service", "otel-collector")["spec"]["ports"]}
    assert config.telemetry.otlp_endpoint == f"http://otel-collector:{collector['otlp-http']}"


def test_the_grace_period_covers_the_drain() -> None:
    pod, container = gateway_container()
    config, _ = load_config_with_secret(config_path())
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain = float(command[1]) + config.server.drain_delay_s + config.server.shutdown_grace_s + SHUTDOWN_TIMEOUT_S
    assert config.server.drain_delay_s > 0 and pod["terminationGracePeriodSeconds"] >= drain


def test_every_pod_runs_as_non_root_without_privileges() -> None:
    uid = re.search(r"^USER (\d+):(\d+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert uid is not None
    for obj in objects():
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert {"requests", "limits"} <= set(container["resources"])
    gateway_pod, _ = gateway_container()
    assert gateway_pod["securityContext"]["runAsUser"] == int(uid.group(1))  # the image's user


def test_the_collector_config_is_whole() -> None:
    collector = yaml.safe_load(one("ConfigMap", "otel-collector-config")["data"]["config.yaml"])
    for pipeline in collector["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline[kind]) <= set(collector[kind]), (kind, pipeline)
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pod = one("Deployment", "otel-collector")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    assert container["args"] == [f"--config={mount['mountPath']}/config.yaml"]
    port = container["readinessProbe"]["httpGet"]["port"]
    health = {p["name"]: p["containerPort"] for p in container["ports"]}[port]
    assert collector["extensions"]["health_check"]["endpoint"].endswith(f":{health}")


@pytest.fixture
def pod_like(redis_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`gateway` with the container's args and environment (the Secret's, REDIS_URL pointed at the test's Redis),
    the config at a copy of the mount path, in an empty working directory. Only the port differs."""
    _, container = gateway_container()
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e and "$(" not in e["value"]}
    mount = tmp_path / env["GATEWAY_CONFIG"].lstrip("/")
    mount.parent.mkdir(parents=True)
    shutil.copy(config_path(), mount)
    port = free_port()
    args = list(container["args"])
    args[args.index("--port") + 1] = str(port)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    # The Collector's address is no name here: spans go to a closed loopback port instead (dropped and counted).
    environ = {**os.environ, **secret_env(), "REDIS_URL": redis_url, "GATEWAY_CONFIG": str(mount),
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "gateway", *args], cwd=workdir, env=environ, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        yield process, f"http://127.0.0.1:{port}", workdir
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_gateway_started_as_the_pod_answers_its_probes_and_drains(
    pod_like: tuple[subprocess.Popen[bytes], str, Path], tmp_path: Path
) -> None:
    process, url, workdir = pod_like
    _, container = gateway_container()
    probe = container["startupProbe"]
    startup, deadline = probe["httpGet"], time.monotonic() + probe["periodSeconds"] * probe["failureThreshold"]
    while True:  # the startup probe's job: poll until the port answers, within the probe's own allowance
        try:
            if httpx.get(url + startup["path"], timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "gateway.log").read_text()
        time.sleep(0.05)
    for probe in ("readinessProbe", "livenessProbe"):
        assert httpx.get(url + container[probe]["httpGet"]["path"]).status_code == 200
    answer = httpx.post(url + "/v1/chat/completions", headers={"authorization": f"Bearer {secret_env()['TEAM_A_KEY']}"},
                        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200, answer.text
    process.send_signal(signal.SIGTERM)  # what the kubelet sends after preStop
    assert httpx.get(url + container["readinessProbe"]["httpGet"]["path"]).status_code == 503  # out of the Service
    assert httpx.get(url + container["livenessProbe"]["httpGet"]["path"]).status_code == 200  # but not restarted
    assert list(workdir.iterdir()) == []  # nothing written locally: a read-only root filesystem is fine
