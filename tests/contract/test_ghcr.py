"""GHCR backend against a local server implementing the documented GitHub Packages endpoints.
Contract tests, not live tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from shipyard.cli import main
from shipyard.errors import RegistryError
from shipyard.registries.backends.apply import run_cleanup
from shipyard.registries.backends.select import BackendKind, open_backend
from shipyard.reports.report import CleanupReport
from shipyard.retention.policy import policy_from_args
from shipyard.secrets import Credentials, SecretValue
from tests.contract.fakes import INDEX, MANIFEST, FakeGitHub, Version

NOW = datetime.now(UTC)


def dg(n: int) -> str:
    return f"sha256:{n:064x}"


def ago(days: int) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def image() -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dg(999), "size": 2},
        "layers": [],
    }


def index(*children: str) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {"mediaType": MANIFEST, "digest": c, "size": 1, "platform": {"os": "linux", "architecture": a}}
            for c, a in zip(children, ("amd64", "arm64"), strict=False)
        ],
    }


def versions() -> list[Version]:
    """A GHCR package as GHCR lists it: children and signatures are versions of their own."""
    return [
        Version(1, dg(1), ["1.0.0", "latest"], ago(100), index(dg(11), dg(12))),
        Version(2, dg(11), [], ago(100), image()),  # untagged, but a child of the kept index
        Version(3, dg(12), [], ago(100), image()),
        Version(4, dg(41), [f"sha256-{1:064x}.sig"], ago(100)),
        Version(5, dg(2), [], ago(60), image()),  # truly untagged, old
        Version(6, dg(42), [f"sha256-{2:064x}.sig"], ago(60)),
        Version(7, dg(3), [], ago(2), image()),  # truly untagged, new
        Version(8, dg(4), ["2.0.0-rc.1"], ago(50), image()),
        Version(9, dg(5), ["2.0.0-rc.2"], ago(40), image()),
        # OCI 1.1 referrers fallback for 2.0.0-rc.1: tag sha256-<subject> -> index -> signature manifest,
        # which GHCR lists as an untagged version of its own
        Version(10, dg(60), [f"sha256-{4:064x}"], ago(50), referrers_index(dg(61))),
        Version(11, dg(61), [], ago(50), image()),
    ]


def referrers_index(*listed: str) -> dict[str, object]:
    artifact = "application/vnd.dev.cosign.artifact.sig.v1+json"
    return {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{"mediaType": MANIFEST, "digest": d, "size": 1, "artifactType": artifact} for d in listed],
    }


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub(versions=versions(), page_cap=3)
    server.start()
    yield server
    server.stop()


def cleanup(server: FakeGitHub, token: str, *, apply: bool, repo: str = "acme/app", **policy: object) -> CleanupReport:
    creds = Credentials("acme-bot", SecretValue(token))

    async def go() -> CleanupReport:
        async with open_backend(f"{server.address}/{repo}", BackendKind.GHCR, creds, server.url) as (backend, path):
            return await run_cleanup(backend, path, policy_from_args(**policy), now=NOW, apply=apply)  # type: ignore[arg-type]

    return anyio.run(go)


def test_lists_every_page_and_never_deletes_children_of_a_kept_index(github: FakeGitHub) -> None:
    report = cleanup(github, "ghp_admin", apply=True, keep_untagged=1, keep_prereleases=1)
    assert set(report.deleted) == {dg(2), dg(42), dg(4), dg(60), dg(61)}
    deleted_ids = sorted(int(p.rsplit("/", 1)[1]) for p in github.calls("DELETE"))
    assert deleted_ids == [5, 6, 8, 10, 11]
    assert all("/orgs/acme/packages/container/app/versions/" in p for p in github.calls("DELETE"))
    pages = [p for p in github.calls("GET") if "/versions?" in p]
    assert any("page=2" in p for p in pages) and any("page=3" in p for p in pages)
    assert {v.id for v in github.versions} == {1, 2, 3, 4, 7, 9}


def test_referrer_versions_are_not_mistaken_for_untagged_images(github: FakeGitHub) -> None:
    report = cleanup(github, "ghp_admin", apply=False, keep_untagged=0)
    assert dg(61) not in report.plan.delete_order
    assert {d.digest: d.reason for d in report.plan.digests}[dg(61)] == "referrer of a kept image"


def test_dry_run_deletes_nothing(github: FakeGitHub) -> None:
    report = cleanup(github, "ghp_admin", apply=False, keep_untagged=0)
    assert set(report.plan.delete_order) == {dg(2), dg(42), dg(3)}
    assert github.calls("DELETE") == []


def test_user_owned_packages_fall_back_to_the_users_namespace() -> None:
    server = FakeGitHub(owner_kind="users", versions=versions())
    server.start()
    try:
        report = cleanup(server, "ghp_admin", apply=True, keep_prereleases=0)
        assert {dg(4), dg(5), dg(60), dg(61)} == set(report.deleted)
        assert all(p.startswith("/users/acme/") for p in server.calls("DELETE"))
    finally:
        server.stop()


def test_nested_package_names_are_url_encoded() -> None:
    server = FakeGitHub(package="app/worker", versions=versions())
    server.start()
    try:
        report = cleanup(server, "ghp_admin", apply=False, repo="acme/app/worker", keep_prereleases=0)
        assert set(report.plan.delete_order) == {dg(4), dg(5), dg(60), dg(61)}
        assert any("/packages/container/app%2Fworker/versions" in p for p in server.calls("GET"))
    finally:
        server.stop()


def test_bad_token_is_an_error_naming_the_api_and_status(github: FakeGitHub) -> None:
    with pytest.raises(RegistryError) as err:
        cleanup(github, "ghp_wrong", apply=False, keep_untagged=0)
    assert err.value.status == 401 and github.address in str(err.value)
    assert "Bad credentials" in str(err.value) and "ghp_wrong" not in str(err.value)


def test_missing_delete_scope_fails_each_delete_and_never_orphans(github: FakeGitHub) -> None:
    report = cleanup(github, "ghp_read", apply=True, keep_untagged=0)
    assert not report.ok and report.deleted == []
    failed = dict(report.failed)
    assert "HTTP 403" in failed[dg(42)] and "delete:packages" in failed[dg(42)]
    # the image whose signature could not be deleted is left alone: no orphaned signature
    assert dg(2) in dict(report.skipped)
    assert len(github.versions) == 11


@pytest.mark.parametrize(
    ("backend", "message"),
    [("oci", "registry {address} (HTTP 404): repository acme/nope not found"), ("ghcr", "versions of {address}/acme/nope failed")],
)
def test_a_repository_that_does_not_exist_is_an_error_not_an_empty_plan(
    github: FakeGitHub, backend: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GHCR_TOKEN", "ghp_admin")
    argv = ["cleanup", "--image", f"{github.address}/acme/nope", "--backend", backend, "--password", "env:GHCR_TOKEN"]
    code = main([*argv, "--api-url", github.url] if backend == "ghcr" else argv)
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    assert message.format(address=github.address) in err and "ghcr.io" not in err  # names the registry given
