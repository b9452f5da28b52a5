"""Registries as they are in production: token authentication (registry T, `distribution` with
``auth: token`` and the stack's token server, as GHCR and Docker Hub work), the OCI 1.1 referrers
API (registry Z), cross-repository mounts.

One full release (three platforms, keyless-signed with Sigstore bundles, SBOM, provenance, scan
gate, smoke test) goes to two repositories on T and one on Z, its base image pulled from T; most
tests read that one release back (a module-scoped fixture) with the host's crane and cosign, the
token server's log and the fronts' request logs (ci/registries/front.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from shipyard.errors import RegistryError
from shipyard.registries.oci import OciRegistry, read_inventory
from shipyard.secrets import Credentials, SecretValue
from tests.integration.conftest import Stack
from tests.integration.test_keyless import (
    IDENTITY_REGEXP,
    failures,
    host_cosign,
    keyless_args,
    runner_env,
)
from tests.integration.test_publish import FIXTURE, PLATFORMS, SHA, report_of
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@dataclass(frozen=True)
class TokenRegistry:
    address: str
    pusher: str
    pusher_password_file: Path
    reader: str
    reader_password_file: Path
    token_log: Path
    request_log: Path

    def auth(self, user: str) -> str:
        """``--registry-auth`` for ``user`` (pusher or reader), the password read from its file."""
        password_file = self.pusher_password_file if user == self.pusher else self.reader_password_file
        return f"{self.address}={user}:file:{password_file}"

    def credentials(self, user: str) -> Credentials:
        password_file = self.pusher_password_file if user == self.pusher else self.reader_password_file
        return Credentials(user, SecretValue(password_file.read_text().strip()))


@pytest.fixture(scope="module")
def registry_t(stack: Stack) -> TokenRegistry:
    env = stack.env
    return TokenRegistry(
        address=env["SHIPYARD_REGISTRY_T"],
        pusher=env["SHIPYARD_REGISTRY_T_PUSHER"],
        pusher_password_file=Path(env["SHIPYARD_REGISTRY_T_PUSHER_PASSWORD_FILE"]),
        reader=env["SHIPYARD_REGISTRY_T_READER"],
        reader_password_file=Path(env["SHIPYARD_REGISTRY_T_READER_PASSWORD_FILE"]),
        token_log=Path(env["SHIPYARD_REGISTRY_T_TOKEN_LOG"]),
        request_log=Path(env["SHIPYARD_REGISTRY_T_REQUEST_LOG"]),
    )


@pytest.fixture(scope="module")
def t_tools(stack: Stack, registry_t: TokenRegistry, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """The host's crane and cosign, logged in to T as the pusher."""
    tools = Tools(bin=stack.bin, home=tmp_path_factory.mktemp("t-tools"))
    tools.login(registry_t.address, registry_t.pusher, registry_t.pusher_password_file.read_text().strip())
    return tools


def log_lines(path: Path, since: int = 0) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[since:] if line.strip()]


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def publish(stack: Stack, out: Path, base_image: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``shipyard publish`` of the fixture app, its base image given."""
    command = [sys.executable, "-m", "shipyard", "publish", "--source", str(FIXTURE), "--out", str(out),
               "--source-date-epoch", "1700000000", "--build-arg", f"GOLANG_IMAGE={stack.images['golang']}",
               "--build-arg", f"BASE_IMAGE={base_image}", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False, timeout=1800)


def shipyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False, timeout=900)


def shipyard_verify(stack: Stack, ref: str, *extra: str) -> tuple[int, dict[str, Any]]:
    trust = ["--certificate-identity-regexp", IDENTITY_REGEXP, "--certificate-oidc-issuer", stack.env["SHIPYARD_OIDC_ISSUER"]]
    proc = shipyard("verify", "--ref", ref, "--rekor-url", stack.env["SHIPYARD_REKOR_URL"], "--scan-fail-on", "", "--json",
                    "--sigstore-trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"], *trust, *extra)  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def referrers_api(registry: str, repository: str, digest: str, artifact_type: str = "") -> tuple[int, dict[str, str], dict[str, Any]]:
    """The referrers API as any client reads it (anonymous): status, headers, body."""
    query = f"?artifactType={urllib.parse.quote(artifact_type, safe='')}" if artifact_type else ""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{repository}/referrers/{digest}{query}", timeout=30) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), {}


def delete_manifest(registry: str, repository: str, digest: str) -> None:
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{digest}", method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def unique_base_image(tools: Tools, source: str, base: str, run: str) -> str:
    """The stack's multi-arch base image, relabelled per platform (new configs, new manifests,
    a new index): an image the engine has never seen, in T alone. Returns it by digest."""
    children = []
    name = source.split("@")[0]
    name = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[1] else name
    for child in tools.manifest(source)["manifests"]:
        arch = child["platform"]["architecture"] + child["platform"].get("variant", "")
        tools.run("crane", "mutate", "--insecure", f"{name}@{child['digest']}", "--label", f"shipyard.test.run={run}",
                  "-t", f"{base}:{arch}")  # fmt: skip
        children += ["-m", f"{base}:{arch}"]
    tools.run("crane", "index", "append", "--insecure", *children, "-t", f"{base}:1")
    return f"{base}@{tools.digest(base + ':1')}"


@pytest.fixture(scope="module")
def release(stack: Stack, registry_t: TokenRegistry, t_tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The full release to T (two repositories: the second mounts its blobs) and Z, its base
    image only in T; with the token server's and the fronts' log lines it caused."""
    out = tmp_path_factory.mktemp("token-release")
    run = os.urandom(4).hex()
    t1, t2 = f"{registry_t.address}/acme/app-{run}", f"{registry_t.address}/acme/app-{run}-copy"
    z = f"{stack.env['SHIPYARD_REGISTRY_Z']}/it/app-{run}"
    base = f"{registry_t.address}/acme/base-{run}"
    base_image = unique_base_image(t_tools, stack.images["base"], base, run)
    marks = {p: line_count(p) for p in (registry_t.token_log, registry_t.request_log, Path(stack.env["SHIPYARD_REGISTRY_Z_REQUEST_LOG"]))}
    started = time.monotonic()
    # a fresh runner (XDG_CACHE_HOME): no record of earlier pushes to T, so t1 uploads every blob
    proc = publish(stack, out, base_image, "--tag", "v7.0.0", "--sha", SHA, "--platform", ",".join(PLATFORMS),
                   "--target", t1, "--target", t2, "--target", z, "--registry-auth", registry_t.auth(registry_t.pusher),
                   *keyless_args(stack), "--sigstore-bundle", "--sbom", "spdx-json", "--provenance", "--scan-fail-on", "CRITICAL,HIGH",
                   "--smoke-port", "8080", "--smoke-path", "/health", "--smoke-platforms", "native", "--json",
                   env={**runner_env(stack, "v7.0.0"), "XDG_CACHE_HOME": str(out / "cache")})  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report.get("error") or proc.stderr[-3000:]
    return {
        "report": report,
        "digest": report["digest"],
        "seconds": time.monotonic() - started,
        "t1": t1,
        "t2": t2,
        "z": z,
        "base": base,
        "run": run,
        "out": out,
        "tokens": log_lines(registry_t.token_log, marks[registry_t.token_log]),
        "t_requests": log_lines(registry_t.request_log, marks[registry_t.request_log]),
        "z_requests": log_lines(
            Path(stack.env["SHIPYARD_REGISTRY_Z_REQUEST_LOG"]), marks[Path(stack.env["SHIPYARD_REGISTRY_Z_REQUEST_LOG"])]
        ),
    }


def test_the_release_lands_with_one_digest_on_the_token_registry_and_the_referrers_one(
    release: dict[str, Any], t_tools: Tools, stack: Stack
) -> None:
    digest = release["digest"]
    for repo in (release["t1"], release["t2"], release["z"]):
        assert t_tools.digest(f"{repo}:7.0.0") == digest, repo
        assert {"7.0.0", "7.0", "7", "latest"} <= t_tools.tags(repo), repo
    assert release["report"]["smoke"]["result"] == "passed"
    assert release["report"]["scan"]["gate"] == "passed"
    # Anonymous gets nothing from T: crane without credentials is refused.
    anonymous = Tools(bin=stack.bin, home=t_tools.home / "anonymous")
    anonymous.home.mkdir(exist_ok=True)
    proc = anonymous.run("crane", "digest", f"{release['t1']}:7.0.0", check=False)
    assert proc.returncode != 0 and "UNAUTHORIZED" in proc.stderr


def host_verify(tools: Tools, stack: Stack, ref: str, *, kind: str | None = None, identity: str = IDENTITY_REGEXP) -> bool:
    """The host's cosign with the stack's trust (a release with bundles needs the trusted root)."""
    command = ["verify"] if kind is None else ["verify-attestation", "--type", kind]
    trust = ["--certificate-identity-regexp", identity, "--certificate-oidc-issuer", stack.env["SHIPYARD_OIDC_ISSUER"]]
    proc = host_cosign(tools, stack, *command, *trust, "--trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"],
                       "--allow-insecure-registry", ref)  # fmt: skip
    return proc.returncode == 0


def test_host_cosign_verifies_signatures_and_attestations_on_both(release: dict[str, Any], t_tools: Tools, stack: Stack) -> None:
    digest = release["digest"]
    children = {m["platform"]["architecture"]: m["digest"] for m in t_tools.manifest(f"{release['t1']}@{digest}")["manifests"]}
    assert len(children) == len(PLATFORMS)
    for repo in (release["t1"], release["t2"], release["z"]):
        for subject in [digest, *children.values()]:
            assert host_verify(t_tools, stack, f"{repo}@{subject}"), f"signature of {repo}@{subject}"
            assert f"{subject.replace(':', '-')}.sig" in t_tools.tags(repo)  # the classic signature is there too
        for arch, subject in children.items():
            assert host_verify(t_tools, stack, f"{repo}@{subject}", kind="spdxjson"), f"SBOM of {arch} in {repo}"
        assert host_verify(t_tools, stack, f"{repo}@{digest}", kind="slsaprovenance1"), f"provenance in {repo}"
        assert not host_verify(t_tools, stack, f"{repo}@{digest}", identity="^https://github.com/someone/else/")
    # The bundles: on Z through the referrers API (no fallback tag), on T through the fallback tag.
    registry_z, z_repo = release["z"].split("/", 1)
    for subject in [release["digest"], *children.values()]:
        status, headers, body = referrers_api(registry_z, z_repo, subject, BUNDLE)
        assert status == 200 and headers.get("OCI-Filters-Applied") == "artifactType"
        assert body["manifests"] and {m["artifactType"] for m in body["manifests"]} == {BUNDLE}
        assert subject.replace(":", "-") not in t_tools.tags(release["z"])
        assert subject.replace(":", "-") in t_tools.tags(release["t1"])
        bundle_flags = ["--new-bundle-format", "--trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"]]
        trust = ["--certificate-identity-regexp", IDENTITY_REGEXP, "--certificate-oidc-issuer", stack.env["SHIPYARD_OIDC_ISSUER"]]
        for repo in (release["z"], release["t1"]):
            proc = host_cosign(t_tools, stack, "verify", *bundle_flags, *trust, "--allow-insecure-registry", f"{repo}@{subject}")
            assert proc.returncode == 0, proc.stderr[-1500:]


def test_shipyard_verify_passes_on_both(release: dict[str, Any], stack: Stack, registry_t: TokenRegistry) -> None:
    for ref in (f"{release['t1']}:7.0.0", f"{release['z']}:7.0.0"):
        code, report = shipyard_verify(stack, ref, "--registry-auth", registry_t.auth(registry_t.pusher))
        assert code == 0 and report["ok"], failures(report)


def test_a_release_longer_than_a_token_lifetime_asks_for_new_tokens_and_succeeds(
    release: dict[str, Any], registry_t: TokenRegistry
) -> None:
    """The stack's tokens live 15 s (shorter than any full release); the release took longer and asked for new ones along the way."""
    lifetime = max(t.get("expires_in", 0) for t in release["tokens"])
    assert release["seconds"] > lifetime
    repo = release["t1"].split("/", 1)[1]
    for_release = [t for t in release["tokens"] if t["user"] == registry_t.pusher and any(repo == a["name"] for a in t["access"])]
    assert len(for_release) > 1
    first = min(datetime.fromisoformat(t["time"]) for t in for_release)
    # Registry T refuses an expired token, so a request it granted more than one lifetime after
    # the release's first token carried a token asked for later: the release renewed its tokens.
    late = [r for r in release["t_requests"] if r["path"].startswith(f"/v2/{repo}/") and 200 <= r["status"] < 300
            and (datetime.fromisoformat(r["time"]) - first).total_seconds() > lifetime + 1]  # fmt: skip
    assert late, f"no request to {repo} was granted after its first token ({first}) had expired"
    # push was granted on the target (scoped per repository and action), nothing to anonymous
    assert any("push" in a["actions"] for t in for_release for a in t["access"] if a["name"] == repo)
    assert all(not t["access"] for t in release["tokens"] if t["user"] == "anonymous")


def test_the_base_image_is_pulled_from_the_token_registry_with_credentials(release: dict[str, Any], registry_t: TokenRegistry) -> None:
    base = release["base"].split("/", 1)[1]
    pulls = [t for t in release["tokens"] if any(a["name"] == base and "pull" in a["actions"] for a in t["access"])]
    assert pulls and all(t["user"] == registry_t.pusher for t in pulls)
    # The engine read the index, the platform manifests and their configs from T (never seen before).
    reads = [r for r in release["t_requests"] if r["path"].startswith(f"/v2/{base}/") and r["method"] == "GET" and r["status"] == 200]
    assert {r["path"].split("/")[-2] for r in reads} >= {"manifests", "blobs"}, reads
    refused = [r for r in release["t_requests"] if r["path"].startswith(f"/v2/{base}/") and r["status"] == 401]
    assert refused, "the engine's first, anonymous request was refused: the pulls were authenticated"


def test_the_second_target_on_a_registry_mounts_every_blob_and_uploads_none(release: dict[str, Any], t_tools: Tools) -> None:
    source, copy = release["t1"].split("/", 1)[1], release["t2"].split("/", 1)[1]
    blobs: set[str] = set()
    for child in t_tools.manifest(f"{release['t1']}@{release['digest']}")["manifests"]:
        manifest = t_tools.manifest(f"{release['t1']}@{child['digest']}")
        blobs |= {layer["digest"] for layer in manifest["layers"]} | {manifest["config"]["digest"]}
    requests = release["t_requests"]

    def uploads(repo: str) -> dict[str, int]:
        return {
            r["query"].split("digest=", 1)[1].replace("%3A", ":"): r["bytes"]
            for r in requests
            if r["method"] in ("PUT", "PATCH") and r["path"].startswith(f"/v2/{repo}/blobs/uploads/") and "digest=" in r["query"]
        }

    assert blobs <= set(uploads(source)), "the first target uploads every blob"
    assert sum(uploads(source)[b] for b in blobs) > 1_000_000
    assert not blobs & set(uploads(copy)), "the second target uploaded a blob it could mount"
    mounted = {
        r["query"].split("mount=", 1)[1].split("&", 1)[0].replace("%3A", ":")
        for r in requests
        if r["method"] == "POST" and r["path"] == f"/v2/{copy}/blobs/uploads/" and "mount=" in r["query"] and r["status"] == 201
    }
    assert blobs <= mounted


def test_a_reader_cannot_publish_and_no_tag_moves(
    release: dict[str, Any], stack: Stack, registry_t: TokenRegistry, t_tools: Tools, tmp_path: Path
) -> None:
    before = {tag: t_tools.digest(f"{release['t1']}:{tag}") for tag in t_tools.tags(release["t1"])}
    proc = publish(stack, tmp_path, f"{release['base']}:1", "--tag", "v7.1.0", "--sha", "7" * 40, "--platform", "linux/amd64",
                   "--target", release["t1"], "--registry-auth", registry_t.auth(registry_t.reader),
                   "--no-sbom", "--no-provenance", "--no-scan", "--json")  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3, proc.stderr[-2000:]
    error = report["error"]
    assert registry_t.address in error and release["t1"].split("/", 1)[1] in error and "push on" in error, error
    assert "no tag was moved" in error
    after = {tag: t_tools.digest(f"{release['t1']}:{tag}") for tag in t_tools.tags(release["t1"])}
    assert after == before and "7.1.0" not in after


def test_the_oci_client_names_the_missing_push_scope_and_mounts_with_both_scopes(
    stack: Stack, registry_t: TokenRegistry, t_tools: Tools
) -> None:
    run = os.urandom(4).hex()
    source, target = f"acme/client-{run}", f"acme/client-{run}-b"
    data = os.urandom(4096)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    async def scenario() -> str:
        async with OciRegistry(registry_t.address, registry_t.credentials(registry_t.pusher)) as pusher:
            assert await pusher.push_blob(source, digest, data)
            assert not await pusher.push_blob(target, digest, data, mount_from=source)  # mounted: no bytes
            assert await pusher.blob_exists(target, digest)
            assert await pusher.referrers(source, digest) is None  # distribution has no referrers API
            other = os.urandom(2048)
            other_digest = "sha256:" + hashlib.sha256(other).hexdigest()
            # a mount from a repository without the blob is refused (202): the bytes are uploaded instead
            assert await pusher.push_blob(target, other_digest, other, mount_from=source)
            assert await pusher.blob_exists(target, other_digest) and not await pusher.blob_exists(source, other_digest)
        async with OciRegistry(registry_t.address, registry_t.credentials(registry_t.reader)) as reader:
            assert await reader.blob_exists(source, digest)  # reading is allowed
            with pytest.raises(RegistryError) as refused:
                await reader.push_blob(f"acme/client-{run}-c", digest, data)
            return str(refused.value)

    message = anyio.run(scenario)
    assert registry_t.address in message and f"push on acme/client-{run}-c" in message, message

    # the whole log (this run's repository names are its own); a scope's actions in any order: the
    # registry's challenge names them "pull,push" or "push,pull" from one run to the next
    def scopes(token: dict[str, Any]) -> set[tuple[str, frozenset[str]]]:
        return {(s.rsplit(":", 1)[0], frozenset(s.rsplit(":", 1)[1].split(","))) for s in token["scopes"]}

    wanted = {(f"repository:{source}", frozenset({"pull"})), (f"repository:{target}", frozenset({"pull", "push"}))}
    mount_tokens = [t for t in log_lines(registry_t.token_log) if wanted <= scopes(t)]
    assert mount_tokens, "the mount asked for pull on the source and push on the target in one token"


def test_cleanup_removes_a_prerelease_and_keeps_the_release_with_its_referrers_on_both(
    release: dict[str, Any], stack: Stack, registry_t: TokenRegistry, t_tools: Tools, tmp_path: Path
) -> None:
    proc = publish(stack, tmp_path, f"{release['base']}:1", "--tag", "v7.1.0-rc.1", "--sha", "1" * 40, "--platform", "linux/amd64",
                   "--spec", "type=semver,pattern={{version}}",  # the version tag alone (no sha-<7> tag)
                   "--target", release["t1"], "--target", release["z"], "--registry-auth", registry_t.auth(registry_t.pusher),
                   *keyless_args(stack), "--sigstore-bundle", "--no-sbom", "--no-provenance", "--no-scan", "--json",
                   env=runner_env(stack, "v7.1.0-rc.1"))  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report.get("error")
    rc, kept = report["digest"], release["digest"]
    registry_z, z_repo = release["z"].split("/", 1)

    def artifacts(repo: str, subject: str) -> set[str]:
        """The subject's referrers (the API on Z, the fallback tag on T) and its cosign tags' manifests."""
        if repo == release["z"]:
            found = {m["digest"] for m in referrers_api(registry_z, z_repo, subject)[2].get("manifests", [])}
        else:
            found = {m["digest"] for m in t_tools.manifest(f"{repo}:{subject.replace(':', '-')}")["manifests"]}
        return found | {t_tools.digest(f"{repo}:{subject.replace(':', '-')}.{kind}") for kind in ("sig", "att")
                        if f"{subject.replace(':', '-')}.{kind}" in t_tools.tags(repo)}  # fmt: skip

    before = {repo: (artifacts(repo, rc), artifacts(repo, kept)) for repo in (release["t1"], release["z"])}
    for repo, (gone, stays) in before.items():
        assert gone and stays, repo
        args = ["cleanup", "--repository", repo, "--keep-prereleases", "0", "--apply", "--format", "json"]
        proc = shipyard(*args, "--registry-auth", registry_t.auth(registry_t.pusher)) if repo == release["t1"] else shipyard(*args)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        for digest in gone | {rc}:
            assert not t_tools.exists(f"{repo}@{digest}"), f"{repo}@{digest} should be gone"
        for digest in stays | {kept}:
            assert t_tools.exists(f"{repo}@{digest}"), f"{repo}@{digest} should be kept"
        assert artifacts(repo, kept) == stays
    assert referrers_api(registry_z, z_repo, rc)[2]["manifests"] == []  # the API no longer lists the pre-release's bundles
    for ref in (f"{release['t1']}:7.0.0", f"{release['z']}:7.0.0"):
        code, verified = shipyard_verify(stack, ref, "--registry-auth", registry_t.auth(registry_t.pusher))
        assert code == 0, failures(verified)


def test_attestations_found_only_through_the_referrers_api_verify_and_a_removed_one_is_named(
    release: dict[str, Any], stack: Stack, t_tools: Tools
) -> None:
    """A copy on Z holding the image and its Sigstore bundles only (no cosign tags, no fallback
    tags): verify discovers the bundles through the API; one removed, verify names it."""
    registry_z = stack.env["SHIPYARD_REGISTRY_Z"]
    copy_repo = f"it/bundles-{release['run']}"
    copy = f"{registry_z}/{copy_repo}"
    z_repo = release["z"].split("/", 1)[1]
    t_tools.run("crane", "copy", "--insecure", f"{release['z']}@{release['digest']}", f"{copy}:7.0.0")
    children = [m["digest"] for m in t_tools.manifest(f"{copy}@{release['digest']}")["manifests"]]
    provenance = None
    for n, subject in enumerate([release["digest"], *children]):
        for m, bundle in enumerate(referrers_api(registry_z, z_repo, subject, BUNDLE)[2]["manifests"]):
            t_tools.run("crane", "copy", "--insecure", f"{release['z']}@{bundle['digest']}", f"{copy}:bundle-{n}-{m}")
            predicate = (bundle.get("annotations") or {}).get("dev.sigstore.bundle.predicateType", "")
            if subject == release["digest"] and "slsa.dev/provenance" in predicate:
                provenance = bundle["digest"]
    tags = t_tools.tags(copy)
    assert not any(t.endswith((".sig", ".att")) or t.startswith("sha256-") for t in tags), tags
    code, verified = shipyard_verify(stack, f"{copy}:7.0.0")
    assert code == 0 and verified["ok"], failures(verified)
    assert all("bundle" in c["detail"].lower() for c in verified["checks"]), verified["checks"]
    assert provenance is not None
    delete_manifest(registry_z, copy_repo, provenance)
    code, verified = shipyard_verify(stack, f"{copy}:7.0.0")
    assert code == 3 and not verified["ok"]
    failed = [c for c in verified["checks"] if not c["ok"]]
    assert [(c["check"], c["subject"]) for c in failed] == [("attestation slsaprovenance1", "index")], failed
    assert failed[0]["digest"] == release["digest"]


def test_cleanups_inventory_of_the_referrers_registry_lists_the_bundles_through_the_api(release: dict[str, Any], stack: Stack) -> None:
    """Cleanup's inventory of Z lists the bundles as the release's artifacts, with no fallback tag."""

    async def scenario() -> Any:
        async with OciRegistry(stack.env["SHIPYARD_REGISTRY_Z"]) as reg:
            return await read_inventory(reg, release["z"].split("/", 1)[1])

    inventory = anyio.run(scenario)
    bundles = [m for m in inventory.manifests.values() if m.subject == release["digest"] and m.media_type and m.artifact]
    assert bundles, inventory.manifests
