"""The Dockerfile and compose.yaml, parsed and cross-checked with the compose directory and the
CLI (issue 15, packaging). Docker itself does not run here: the Dockerfile is read with the
official BuildKit parser (the ``dockerfile`` package), compose.yaml with PyYAML, each service's
command with ``eessi``'s own argument parser, and the image's health check command is run
against a real ``eessi serve``."""

from __future__ import annotations

import asyncio
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dockerfile
import pytest
import yaml
from serve_support import CNS, Serve, write_directory

from eessi.cli import build_parser
from eessi.directory import default_directory_path, load_directory
from eessi.node.network import served_entries

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "packaging-test-token-7d21"


def instructions() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(ROOT / "Dockerfile")))


def final_stage() -> list[dockerfile.Command]:
    """The instructions of the image's stage (after the last FROM)."""
    cmds = instructions()
    last = max(i for i, c in enumerate(cmds) if c.cmd == "FROM")
    return cmds[last:]


def one(cmds: list[dockerfile.Command], name: str) -> dockerfile.Command:
    found = [c for c in cmds if c.cmd == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def exposed_port() -> int:
    (port,) = one(final_stage(), "EXPOSE").value
    return int(port.split("/")[0])


def healthcheck_argv() -> list[str]:
    check = one(final_stage(), "HEALTHCHECK")
    assert check.json, "HEALTHCHECK CMD in exec form (no shell in the way)"
    assert check.value[0] == "CMD"
    return list(check.value[1:])


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return doc


def parsed(command: list[str]) -> Any:
    """A service's command as ``eessi`` parses it (the image's ENTRYPOINT is ``eessi``)."""
    return build_parser().parse_args(command)


def test_the_image_is_slim_non_root_and_health_checked() -> None:
    stage = final_stage()
    (base,) = one(stage, "FROM").value
    assert base == "python:3.11-slim", base
    user = one(stage, "USER").value[0].split(":")[0]
    assert user not in ("root", "0")
    last_user = max(i for i, c in enumerate(stage) if c.cmd == "USER")
    assert all(c.cmd != "RUN" for c in stage[last_user:]), "nothing runs as root after USER"
    flags = dict(f.lstrip("-").split("=", 1) for f in one(stage, "HEALTHCHECK").flags)
    assert {"interval", "timeout", "retries"} <= flags.keys()
    argv = healthcheck_argv()
    url = urlsplit(argv[-1])
    assert argv[:3] == ["python", "-m", "eessi.ops.healthcheck"]
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", exposed_port(), "/api/health/live")
    assert one(stage, "ENTRYPOINT").value == ("eessi",)
    default = parsed(list(one(stage, "CMD").value))
    assert default.command == "serve"
    assert default.port == exposed_port()
    # every file the build copies exists in the checkout (and is not excluded by .dockerignore)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for copy in (c for c in instructions() if c.cmd == "COPY" and not c.flags):
        for source in copy.value[:-1]:
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") + "/" not in ignored, source


def test_compose_runs_each_served_institution_as_its_own_service_on_the_directory() -> None:
    doc = compose()
    services: dict[str, Any] = doc["services"]
    port = exposed_port()
    seen: dict[str, str] = {}
    published: list[str] = []
    for name, service in services.items():
        if "profiles" in service:  # the postgres profile: its own test below
            continue
        args = parsed(service["command"])
        assert args.command == "serve", name
        # the directory it reads is deploy/directory.toml, mounted read-only
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert mounts[args.directory] == "./deploy/directory.toml", name
        directory = load_directory(ROOT / "deploy" / "directory.toml")
        entry = directory.get(args.institution)
        endpoint = urlsplit(entry.endpoint)
        # peers find this service by its name, on the port the image exposes and checks
        assert endpoint.hostname == name, (name, entry.endpoint)
        assert endpoint.port == port
        assert args.port in (None, port)
        assert entry.admin is None  # the admin API on the endpoint's port, like /metrics
        assert f"{port}" == service["ports"][0].split(":")[-1]
        published.append(service["ports"][0].split(":")[0])
        # bound to every interface of its container: the admin token is required (and given)
        assert args.host == "0.0.0.0"
        assert "EESSI_ADMIN_TOKEN" in service["environment"]
        # its journal on the service's own named volume
        volume = mounts["/var/lib/eessi"]
        assert volume in doc["volumes"], name
        assert Path(args.db).parent == Path("/var/lib/eessi")
        # the container runtime waits longer than the drain before it kills
        assert float(service["stop_grace_period"].rstrip("s")) > args.drain_timeout
        seen[args.institution] = name
    assert len(set(published)) == len(published), published
    wanted = {e.id for e in served_entries(load_directory(ROOT / "deploy" / "directory.toml"))}
    assert set(seen) == wanted  # the CNS and every mock fund in EESSI, each once
    assert len(set(seen.values())) == len(seen)
    assert services[seen[CNS]]["ports"][0] == f"{port}:{port}"


def test_the_postgres_profile_runs_the_cns_as_two_processes_on_one_journal() -> None:
    doc = compose()
    services: dict[str, Any] = doc["services"]
    profile = {n: s for n, s in services.items() if "postgres" in s.get("profiles", ())}
    postgres = profile.pop("postgres")
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert len(profile) == 2
    directory = load_directory(ROOT / "deploy" / "directory.toml")
    cns_host = urlsplit(directory.get(CNS).endpoint).hostname
    journals = set()
    for name, service in profile.items():
        args = parsed(service["command"])
        assert (args.command, args.institution, args.shared) == ("serve", CNS, True), name
        assert args.db is None
        journal = urlsplit(args.journal)
        assert (journal.scheme, journal.hostname, journal.port) == ("postgresql", "postgres", 5432)
        assert journal.path == "/" + postgres["environment"]["POSTGRES_DB"]
        assert journal.username == postgres["environment"]["POSTGRES_USER"]
        journals.add(args.journal)
        # peers reach either process under the CNS's one host name in the directory
        assert cns_host in service["networks"]["default"]["aliases"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert args.host == "0.0.0.0"
        assert "EESSI_ADMIN_TOKEN" in service["environment"]
    assert len(journals) == 1  # one journal shared
    published = [s["ports"][0].split(":")[0] for s in services.values() if "ports" in s]
    assert len(set(published)) == len(published)
    # the single-process CNS answers to the same name: the profile runs with it scaled to 0
    assert cns_host in services
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docker compose --profile postgres up --build --scale cns=0" in readme


def test_the_compose_directory_is_the_shipped_one_on_service_names() -> None:
    def without_addresses(path: Path) -> list[dict[str, Any]]:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        return [
            {k: v for k, v in entry.items() if k not in ("endpoint", "admin")}
            for entry in doc["institution"]
        ]

    shipped = without_addresses(default_directory_path())
    assert without_addresses(ROOT / "deploy" / "directory.toml") == shipped
    hosts = [urlsplit(e.endpoint).hostname for e in load_directory(ROOT / "deploy/directory.toml")]
    assert len(set(hosts)) == len(hosts)


@pytest.mark.slow
async def test_the_image_health_check_command_passes_on_a_live_node_with_its_token(
    tmp_path: Path,
) -> None:
    cns = Serve(
        write_directory(tmp_path), CNS, tmp_path / "cns.sqlite", tmp_path / "cns.log",
        env={"EESSI_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    argv = healthcheck_argv()
    url = cns.url + urlsplit(argv[-1]).path

    async def health(env: dict[str, str]) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv[1:-1], url,
            env={"PATH": "", **env}, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, err.decode()

    assert (await health({"EESSI_ADMIN_TOKEN": TOKEN}))[0] == 1  # nothing listens yet
    await cns.start()
    try:
        await cns.wait_ready(headers={"Authorization": f"Bearer {TOKEN}"})
        assert await health({"EESSI_ADMIN_TOKEN": TOKEN}) == (0, "")
        code, err = await health({})
        assert code == 1
        assert "HTTP 401" in err
    finally:
        assert (await cns.terminate())[0] == 0
