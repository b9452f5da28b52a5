"""Docker Hub backend and README sync against a local server implementing the documented
Docker Hub endpoints. Contract tests, not live tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from shipyard.errors import InvalidInput, RegistryError
from shipyard.registries.backends.apply import run_cleanup
from shipyard.registries.backends.dockerhub import DockerHub
from shipyard.registries.backends.select import BackendKind, open_backend
from shipyard.reports.report import CleanupReport
from shipyard.retention.policy import policy_from_args
from shipyard.secrets import Credentials, SecretValue
from tests.contract.fakes import FakeDockerHub, HubTag

NOW = datetime.now(UTC)


def dg(n: int) -> str:
    return f"sha256:{n:064x}"


def ago(days: int) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def hub() -> Iterator[FakeDockerHub]:
    server = FakeDockerHub(
        page_cap=2,
        tags=[
            HubTag("latest", dg(1), ago(200), [dg(11), dg(12)]),
            HubTag("stable", dg(1), ago(200), [dg(11), dg(12)]),
            HubTag("v1.0.0", dg(1), ago(200), [dg(11), dg(12)]),
            HubTag("nightly-2024-01-01", dg(2), ago(300)),
            HubTag(f"sha256-{2:064x}.sig", dg(22), ago(300)),
            HubTag("pr-7", dg(3), ago(120)),
            HubTag("pr-8", dg(4), ago(10)),
        ],
    )
    server.start()
    yield server
    server.stop()


def creds(secret: str = "dckr_pat_good") -> Credentials:
    return Credentials("acme-bot", SecretValue(secret))


def cleanup(server: FakeDockerHub, secret: str, *, apply: bool, **policy: object) -> CleanupReport:
    async def go() -> CleanupReport:
        async with open_backend("docker.io/acme/app", BackendKind.AUTO, creds(secret), server.url) as (backend, path):
            return await run_cleanup(backend, path, policy_from_args(**policy), now=NOW, apply=apply)  # type: ignore[arg-type]

    return anyio.run(go)


def test_old_tags_are_deleted_protected_ones_kept_and_signatures_follow(hub: FakeDockerHub) -> None:
    report = cleanup(hub, "dckr_pat_good", apply=True, older_than="90d")
    assert report.ok
    assert report.deleted == [f"sha256-{2:064x}.sig", "nightly-2024-01-01", "pr-7"]
    assert {t.name for t in hub.tags} == {"latest", "stable", "v1.0.0", "pr-8"}
    assert all(p.startswith("/v2/namespaces/acme/repositories/app/tags/") for p in hub.calls("DELETE"))
    assert sum("/tags?" in p for p in hub.calls("GET")) == 4  # 7 tags at 2 a page


def test_login_failure_names_the_api_and_never_the_secret(hub: FakeDockerHub) -> None:
    with pytest.raises(RegistryError) as err:
        cleanup(hub, "dckr_pat_WRONG", apply=False, older_than="1d")
    assert err.value.status == 401 and hub.address in str(err.value)
    assert "Incorrect authentication credentials" in str(err.value) and "WRONG" not in str(err.value)


def test_docker_hub_needs_credentials(hub: FakeDockerHub) -> None:
    async def go() -> None:
        async with DockerHub(None, hub.url) as api:
            await api.inventory("acme/app")

    with pytest.raises(RegistryError, match="needs credentials"):
        anyio.run(go)


def test_sync_readme_sets_the_overview_and_short_description(hub: FakeDockerHub) -> None:
    async def go() -> dict[str, object]:
        async with DockerHub(creds(), hub.url) as api:
            return await api.update_description("acme/app", "# App\n\nIt ships.", "Ships things")

    result = anyio.run(go)
    assert hub.full_description == "# App\n\nIt ships." and hub.description == "Ships things"
    assert result["full_description"] == "# App\n\nIt ships."
    assert hub.calls("PATCH") == ["/v2/repositories/acme/app/"]


def test_oversized_readme_is_refused_before_any_request(hub: FakeDockerHub) -> None:
    async def go() -> None:
        async with DockerHub(creds(), hub.url) as api:
            await api.update_description("acme/app", "x" * 25_001)

    with pytest.raises(InvalidInput, match="25000-byte limit"):
        anyio.run(go)
    assert hub.requests == []


def test_sync_readme_cli(hub: FakeDockerHub, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Hello from the CLI\n")
    env_args = [
        sys.executable,
        "-m",
        "shipyard",
        "sync-readme",
        "--image",
        "docker.io/acme/app",
        "--readme",
        str(readme),
        "--short-description",
        "CLI sync",
        "--username",
        "acme-bot",
        "--password",
        "env:HUB_TOKEN",
        "--api-url",
        hub.url,
    ]
    ok = subprocess.run(env_args, capture_output=True, text=True, env={"HUB_TOKEN": "dckr_pat_good", "PATH": "/usr/bin:/bin"}, check=False)
    assert ok.returncode == 0, ok.stderr
    assert hub.full_description == "# Hello from the CLI\n" and "docker.io/acme/app" in ok.stdout
    bad = subprocess.run(env_args, capture_output=True, text=True, env={"HUB_TOKEN": "nope", "PATH": "/usr/bin:/bin"}, check=False)
    assert bad.returncode == 3 and "HTTP 401" in bad.stderr and "check the username and token" in bad.stderr  # the registry said no


def test_rate_limited_listing_is_retried(hub: FakeDockerHub) -> None:
    hub.throttle = 2
    report = cleanup(hub, "dckr_pat_good", apply=False, older_than="90d")
    assert set(report.plan.delete_order) == {"nightly-2024-01-01", "pr-7", f"sha256-{2:064x}.sig"}
    assert sum("/tags?" in p for p in hub.calls("GET")) == 6  # 2 refused + 4 pages


def test_persistent_rate_limit_is_a_clear_error(hub: FakeDockerHub) -> None:
    hub.throttle = 10
    with pytest.raises(RegistryError) as err:
        cleanup(hub, "dckr_pat_good", apply=False, older_than="90d")
    assert err.value.status == 429 and "rate limited: retry later" in str(err.value)
