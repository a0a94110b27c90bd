"""The deployment recipes under deploy/ name only things the product has.

These machines cannot run containers, so the recipes are checked by reading them: every file
parses, every `offerbot …` command line is one the CLI accepts, every OFFERBOT_* variable is a
config key, ports and probe paths are the server's, and the grace periods cover the drain
(see docs/deployment.md).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from bot.cli import build_parser
from bot.config import ServerSettings, Settings, WorkerSettings, load_settings
from bot.handlers import ops

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
YAML_FILES = sorted([*DEPLOY.glob("*.yaml"), *DEPLOY.glob("k8s/*.yaml")])
UNITS = sorted(DEPLOY.glob("systemd/*.service"))
DOCKERFILE = DEPLOY / "Dockerfile"
ENV_EXAMPLE = DEPLOY / ".env.example"
ALL_FILES = [*YAML_FILES, *UNITS, DOCKERFILE, ENV_EXAMPLE]
SHUTDOWN_S = 30  # bot/app.py: AppRunner(shutdown_timeout=30), the web drain


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _k8s_docs() -> list[dict]:
    return [d for p in YAML_FILES if p.parent.name == "k8s" for d in _docs(p)]


def _compose() -> dict:
    return _docs(DEPLOY / "compose.yaml")[0]


def _unit_value(path: Path, key: str) -> list[str]:
    return [
        line.split("=", 1)[1].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith(key + "=")
    ]


def _dockerfile_cmd() -> list[str]:
    import json

    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("CMD ")]
    assert len(lines) == 1, "one CMD in the Dockerfile"
    return json.loads(lines[0][4:])


def _offerbot_commands() -> list[list[str]]:
    """Every command line in the recipes that runs offerbot."""
    cmds: list[list[str]] = [_dockerfile_cmd()]
    for svc in _compose()["services"].values():
        if "command" in svc:
            cmds.append(list(svc["command"]))
    for doc in _k8s_docs():
        if doc.get("kind") == "Deployment":
            spec = doc["spec"]["template"]["spec"]
            for c in [*spec.get("initContainers", []), *spec["containers"]]:
                cmds.append(list(c["command"]))
    for unit in UNITS:
        for key in ("ExecStart", "ExecStartPre"):
            cmds += [shlex.split(v) for v in _unit_value(unit, key)]
    return [c for c in cmds if Path(c[0]).name == "offerbot"]


def _config_env_names() -> set[str]:
    names = {"OFFERBOT_CONFIG"}
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and hasattr(model, "model_fields"):
            names |= {f"OFFERBOT_{section}_{key}".upper() for key in model.model_fields}
    return names


def test_every_yaml_file_parses():
    assert YAML_FILES, "deploy/ has YAML recipes"
    for path in YAML_FILES:
        assert _docs(path), f"{path.name} is empty"


def test_each_offerbot_command_is_accepted_by_the_cli():
    cmds = _offerbot_commands()
    subcommands = {c[1] for c in cmds}
    # web, worker and migrate are each run by every recipe family.
    assert {"serve", "worker", "migrate"} <= subcommands
    parser = build_parser()
    for cmd in cmds:
        try:
            parser.parse_args(cmd[1:])
        except SystemExit:
            pytest.fail(f"the CLI rejects {' '.join(cmd)!r}")


def test_the_cli_check_can_fail():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--no-such-flag"])


def test_every_environment_variable_is_a_config_key():
    known = _config_env_names()
    used: set[str] = set()
    for path in ALL_FILES:
        used |= set(re.findall(r"\bOFFERBOT_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    assert used, "the recipes configure offerbot through the environment"
    unknown = sorted(used - known)
    assert not unknown, f"not config keys: {unknown}"
    assert "OFFERBOT_NO_SUCH_KEY" not in known


def test_the_example_environment_is_a_valid_config(tmp_path, monkeypatch):
    env = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    monkeypatch.chdir(tmp_path)  # no ./config.toml: defaults plus the environment
    s = load_settings(environ=env)
    assert s.database.url.startswith("postgres://")
    assert s.redis.url.startswith("redis://")


def test_compose_variables_are_in_the_example_env():
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    wanted = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = {ln.split("=", 1)[0] for ln in ENV_EXAMPLE.read_text().splitlines() if "=" in ln}
    assert wanted <= example


def test_ports_are_the_servers():
    port = ServerSettings().port
    assert f"EXPOSE {port}" in DOCKERFILE.read_text()
    assert f"OFFERBOT_SERVER_PORT={port}" in DOCKERFILE.read_text()
    web_svc = _compose()["services"]["web"]
    assert any(str(p).endswith(f":{port}") for p in web_svc["ports"])
    container_ports = [
        p["containerPort"]
        for d in _k8s_docs()
        if d.get("kind") == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
        for p in c.get("ports", [])
    ]
    assert container_ports == [port]


def test_probe_paths_exist_in_the_server():
    app = web.Application()
    ops.setup(app)
    routes = {r.resource.canonical for r in app.router.routes()}
    used = set(re.findall(r"127\.0\.0\.1:\d+(/[a-z]+)", DOCKERFILE.read_text()))
    used |= set(re.findall(r"127\.0\.0\.1:\d+(/[a-z]+)", (DEPLOY / "compose.yaml").read_text()))
    for d in _k8s_docs():
        if d.get("kind") == "Deployment":
            for c in d["spec"]["template"]["spec"]["containers"]:
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe in c:
                        used.add(c[probe]["httpGet"]["path"])
    assert {"/healthz", "/readyz"} <= used
    assert used <= routes, f"unknown paths: {used - routes}"


def test_the_image_runs_as_a_non_root_user_with_a_health_check():
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", text, re.M)
    assert "/healthz" in text.split("HEALTHCHECK", 1)[1]
    assert re.search(r"^FROM python:3\.1\d-slim\s*$", text, re.M)
    # the final stage installs the wheel only, never the sources
    final = text.rsplit("\nFROM ", 1)[1]
    assert "COPY bot" not in final and "/wheels/*.whl" in final
    root = DEPLOY.parent
    for src in re.findall(r"^COPY (?!--)(.+) \S+$", text, re.M):
        for name in src.split():
            assert (root / name).exists(), f"Dockerfile copies missing {name}"


def test_compose_waits_for_healthy_services():
    services = _compose()["services"]
    for name in ("web", "worker"):
        deps = services[name]["depends_on"]
        for dep in ("postgres", "redis"):
            assert deps[dep]["condition"] == "service_healthy"
            assert "healthcheck" in services[dep]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["web"]["command"][-1] == "--no-worker"
    assert set(_compose()["volumes"]) == {"postgres-data", "redis-data", "offerbot-data"}


def _seconds(value: str) -> int:
    return int(str(value).removesuffix("s"))


def test_grace_periods_cover_the_drain():
    job_s = int(WorkerSettings().job_timeout.total_seconds())
    grace = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        for d in _k8s_docs()
        if d.get("kind") == "Deployment"
    }
    assert grace["offerbot-web"] > SHUTDOWN_S
    assert grace["offerbot-worker"] > job_s
    services = _compose()["services"]
    assert _seconds(services["web"]["stop_grace_period"]) > SHUTDOWN_S
    assert _seconds(services["worker"]["stop_grace_period"]) > job_s
    units = {u.stem: _seconds(_unit_value(u, "TimeoutStopSec")[0]) for u in UNITS}
    assert units["offerbot-web"] > SHUTDOWN_S
    assert units["offerbot-worker"] > job_s


def test_kubernetes_deployments_probe_and_reference_their_config():
    docs = _k8s_docs()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "Secret"} <= kinds
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        spec = d["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            for ref in c["envFrom"]:
                kind, body = next(iter(ref.items()))
                want = "ConfigMap" if kind == "configMapRef" else "Secret"
                assert (want, body["name"]) in names
    web_spec = next(d for d in docs if d["metadata"]["name"] == "offerbot-web")
    web_c = web_spec["spec"]["template"]["spec"]["containers"][0]
    assert web_c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web_c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    svc = next(d for d in docs if d["kind"] == "Service")
    assert svc["spec"]["selector"] == web_spec["spec"]["template"]["metadata"]["labels"]
