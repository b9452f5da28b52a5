"""Keyless signing for real, against the stack's local Sigstore (ci/lib/sigstore.sh): our OIDC
issuer standing in for GitHub Actions, Fulcio, a CT log, Rekor and a timestamp authority.

Every result is read back independently: the host's cosign verifies with only the trust files
``ci/stack env`` exports (no ``--insecure-ignore-tlog``), and Rekor's own API is asked for the
entries by artifact hash.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.test_module_mode import COLD_LOAD_TIMEOUT
from tests.integration.test_publish import PLATFORMS, report_of, shipyard
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

IDENTITY_REGEXP = "^https://github.com/acme/app/"
TRUST_VARIABLES = ("SIGSTORE_ROOT_FILE", "SIGSTORE_REKOR_PUBLIC_KEY", "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", "SIGSTORE_TSA_CERTIFICATE_FILE")


def request_url(stack: Stack, tag: str) -> str:
    """The runner's token request URL, for a workflow run at ``refs/tags/<tag>``."""
    base = stack.env["SHIPYARD_OIDC_REQUEST_URL"].split("?", 1)[0]
    return f"{base}?ref=refs/tags/{tag}"


def request_token(stack: Stack) -> str:
    return Path(stack.env["SHIPYARD_OIDC_REQUEST_TOKEN_FILE"]).read_text().strip()


def keyless_args(stack: Stack) -> list[str]:
    """publish's options for the stack's Sigstore, the token from the runner-style pair."""
    return [
        "--sign", "keyless",
        "--oidc-request-url", "env:ACTIONS_ID_TOKEN_REQUEST_URL",
        "--oidc-request-token", "env:ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "--fulcio-url", stack.env["SHIPYARD_FULCIO_URL"],
        "--rekor-url", stack.env["SHIPYARD_REKOR_URL"],
        "--timestamp-url", stack.env["SHIPYARD_TSA_URL"],
        "--sigstore-trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"],
    ]  # fmt: skip


def runner_env(stack: Stack, tag: str) -> dict[str, str]:
    return {"ACTIONS_ID_TOKEN_REQUEST_URL": request_url(stack, tag), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token(stack)}


def host_cosign(tools: Tools, stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The host's cosign with only the stack's trust files set (no flags about trust)."""
    env = {k: v for k, v in tools.env.items() if not k.startswith(("SIGSTORE_", "COSIGN_", "TUF_"))}
    env.update({k: stack.env[k] for k in TRUST_VARIABLES})
    return subprocess.run([str(tools.bin / "cosign"), *args], capture_output=True, text=True, env=env, cwd=tools.home, check=False)


def verify(
    tools: Tools, stack: Stack, ref: str, *, identity: str = IDENTITY_REGEXP, kind: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = ["verify"] if kind is None else ["verify-attestation", "--type", kind]
    trust = ["--certificate-identity-regexp", identity, "--certificate-oidc-issuer", stack.env["SHIPYARD_OIDC_ISSUER"]]
    return host_cosign(tools, stack, *command, *trust, "--allow-insecure-registry", ref)


def rekor_entries_for(stack: Stack, artifact_hash: str) -> list[dict[str, Any]]:
    """Rekor's own API: the entries whose artifact has this hash (search index, then each entry)."""
    rekor = stack.env["SHIPYARD_REKOR_URL"]
    body = json.dumps({"hash": artifact_hash}).encode()
    search = urllib.request.Request(f"{rekor}/api/v1/index/retrieve", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(search, timeout=30) as response:
        uuids = json.load(response)
    entries = []
    for uuid in uuids:
        with urllib.request.urlopen(f"{rekor}/api/v1/log/entries/{uuid}", timeout=30) as response:
            entries.extend(json.load(response).values())
    return entries


def signature_layers(tools: Tools, repo: str, digest: str) -> list[str]:
    """The digests of the simple-signing payloads in ``<repo>:sha256-<hex>.sig`` (each is what
    the signature signs, so its Rekor entry's artifact hash)."""
    manifest = tools.manifest(f"{repo}:{digest.replace(':', '-')}.sig")
    return [layer["digest"] for layer in manifest["layers"]]


def _platform(p: dict[str, str]) -> str:
    return "/".join(x for x in (p["os"], p["architecture"], p.get("variant", "")) if x)


def assert_released_keyless(tools: Tools, stack: Stack, repos: list[str], digest: str) -> None:
    """Host cosign verifies index and platforms on every registry, the attestations, and refuses another identity."""
    children = {_platform(m["platform"]): m["digest"] for m in tools.manifest(f"{repos[0]}@{digest}")["manifests"]}
    assert sorted(children) == sorted(PLATFORMS)
    for repo in repos:
        for subject in [digest, *children.values()]:
            proc = verify(tools, stack, f"{repo}@{subject}")
            assert proc.returncode == 0, f"{repo}@{subject}: {proc.stderr[-1500:]}"
        for platform, subject in children.items():
            proc = verify(tools, stack, f"{repo}@{subject}", kind="spdxjson")
            assert proc.returncode == 0, f"spdxjson of {platform} in {repo}: {proc.stderr[-1500:]}"
        proc = verify(tools, stack, f"{repo}@{digest}", kind="slsaprovenance1")
        assert proc.returncode == 0, f"provenance in {repo}: {proc.stderr[-1500:]}"
        other = "^https://github.com/someone/else/"
        assert verify(tools, stack, f"{repo}@{digest}", identity=other).returncode != 0
        assert verify(tools, stack, f"{repo}@{digest}", identity=other, kind="slsaprovenance1").returncode != 0
    # Rekor holds the entries: looked up by each signature payload's hash.
    for subject in [digest, *children.values()]:
        for payload in signature_layers(tools, repos[0], subject):
            entries = rekor_entries_for(stack, payload)
            assert entries, f"Rekor has no entry for the signature of {subject} (payload {payload})"
            assert all(e["verification"]["inclusionProof"] for e in entries)


def assert_no_token_anywhere(stack: Stack, *texts: str) -> None:
    token = request_token(stack)
    for text in texts:
        assert token not in text
        assert "eyJhbGciOi" not in text  # a JWT's header (an identity token)


def test_a_keyless_release_by_the_runner_route_verifies_on_both_registries(
    stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    proc = shipyard("--tag", "v3.1.0", "--platform", ",".join(PLATFORMS), "--image", a, "--image", b, "--registry-auth", b_auth,
                    *keyless_args(stack), "--sbom", "spdx-json", "--provenance", "--json",
                    stack=stack, out=tmp_path, extra_env=runner_env(stack, "v3.1.0"))  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report.get("error") or proc.stderr[-3000:]
    assert {s["repository"] for s in report["signatures"]} == {a, b}
    assert_released_keyless(tools, stack, [a, b], report["digest"])
    # The identity is the workflow at the tag, as Fulcio wrote it into the certificate.
    exact = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v3.1.0"
    proc_exact = host_cosign(tools, stack, "verify", "--certificate-identity", exact, "--certificate-oidc-issuer",
                             stack.env["SHIPYARD_OIDC_ISSUER"], "--allow-insecure-registry", f"{a}@{report['digest']}")  # fmt: skip
    assert proc_exact.returncode == 0, proc_exact.stderr[-1500:]
    # The release notes name that identity and issuer; each printed command runs as printed,
    # with only the trust files set.
    notes = (tmp_path / "release-notes.md").read_text()
    assert f"--certificate-identity '{exact}' --certificate-oidc-issuer '{stack.env['SHIPYARD_OIDC_ISSUER']}'" in notes
    commands = [
        line for block in re.findall(r"```sh\n(.*?)```", notes, re.DOTALL) for line in block.splitlines() if line.startswith("cosign ")
    ]
    assert len(commands) == 6, notes  # per registry: verify, verify-attestation spdxjson and slsaprovenance1
    for line in commands:
        done = host_cosign(tools, stack, *shlex.split(line)[1:])
        assert done.returncode == 0, f"{line}\n{done.stderr[-1500:]}"
    outputs = [proc.stdout, proc.stderr, (tmp_path / "engine.log").read_text(), (tmp_path / "report.json").read_text()]
    outputs += [(tmp_path / "release-notes.md").read_text()]
    assert_no_token_anywhere(stack, *outputs)


def test_a_keyless_release_through_dagger_call_verifies_on_both_registries(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    ports = {u.rsplit(":", 1)[1].split("/", 1)[0] for u in (stack.registry_a, stack.registry_b)}
    ports |= {stack.env[k].split("//", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit(":", 1)[1]
              for k in ("SHIPYARD_FULCIO_URL", "SHIPYARD_REKOR_URL", "SHIPYARD_TSA_URL", "SHIPYARD_OIDC_ISSUER")}  # fmt: skip
    services = [arg for port in sorted(ports) for arg in ("--registry", f"tcp://localhost:{port}")]
    args = [
        "call",
        "with-registry-auth",
        "--address",
        stack.registry_b,
        "--username",
        stack.username_b,
        "--secret",
        "env:SHIPYARD_TEST_B_PASSWORD",
    ]
    args += [
        "publish",
        "--tag",
        "v3.2.0",
        "--source",
        "tests/fixtures/app",
        "--platform",
        ",".join(PLATFORMS),
        "--image",
        a,
        "--image",
        b,
    ]
    args += ["--sha", "860c1904a1ce19322e91ac35af1ab07466440c37", "--source-date-epoch", "1700000000", "--no-scan"]
    args += ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]
    args += ["--tool-images", stack.env["SHIPYARD_TOOL_IMAGES"], *keyless_args(stack), *services, "-o", str(tmp_path / "dist")]
    env = {**os.environ, **stack.env, **runner_env(stack, "v3.2.0"), "SHIPYARD_TEST_B_PASSWORD": stack.password_b, "NO_COLOR": "1"}
    proc = subprocess.run([stack.env["_EXPERIMENTAL_DAGGER_CLI_BIN"], "--progress=plain", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=COLD_LOAD_TIMEOUT * 2, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((tmp_path / "dist" / "report.json").read_text())
    assert report["ok"] and {s["repository"] for s in report["signatures"]} == {a, b}
    assert_released_keyless(tools, stack, [a, b], report["digest"])
    assert_no_token_anywhere(stack, proc.stdout, proc.stderr, (tmp_path / "dist" / "report.json").read_text())


def _token(stack: Stack, expires_in: int) -> str:
    with urllib.request.urlopen(f"{stack.env['SHIPYARD_OIDC_TOKEN_URL']}?ref=refs/tags/v3.3.0&expires_in={expires_in}", timeout=30) as r:
        value: str = json.load(r)["value"]
    return value


def test_an_expired_token_or_fulcio_down_fails_naming_it_and_moves_no_tag(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    common = ["--tag", "v3.3.0", "--platform", "linux/amd64", "--image", a, "--json"]
    expired = _token(stack, -120)
    token_args = [x for x in keyless_args(stack) if not x.startswith(("--oidc-request", "env:ACTIONS"))]
    proc = shipyard(*common, *token_args, "--oidc-token", "env:SHIPYARD_TEST_TOKEN", stack=stack, out=tmp_path / "expired",
                    extra_env={"SHIPYARD_TEST_TOKEN": expired})  # fmt: skip
    # Checked before anything is built: one line naming the token's expiry, exit 3.
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "OIDC identity token (--oidc-token) expired at" in proc.stderr, proc.stderr
    assert tools.tags(a) == set()
    assert expired not in proc.stdout + proc.stderr

    down = list(keyless_args(stack))
    down[down.index("--fulcio-url") + 1] = "http://127.0.0.1:5549"  # nothing listens there
    proc = shipyard(*common, *down, stack=stack, out=tmp_path / "down", extra_env=runner_env(stack, "v3.3.0"))
    report = report_of(proc)
    assert proc.returncode == 3, report
    assert "Fulcio" in report["error"] and "http://127.0.0.1:5549" in report["error"], report["error"]
    assert tools.tags(a) == set()
    assert_no_token_anywhere(stack, proc.stdout, proc.stderr)


def test_the_stack_exports_trust_that_host_cosign_reads_with_no_other_setting(stack: Stack) -> None:
    root = json.loads(Path(stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"]).read_text())
    assert [len(root[k]) for k in ("certificateAuthorities", "tlogs", "ctlogs", "timestampAuthorities")] == [1, 1, 1, 1]
    for name in TRUST_VARIABLES:
        assert Path(stack.env[name]).read_text().startswith("-----BEGIN"), name
    with urllib.request.urlopen(f"{stack.env['SHIPYARD_OIDC_ISSUER']}/.well-known/openid-configuration", timeout=30) as r:
        assert json.load(r)["issuer"] == stack.env["SHIPYARD_OIDC_ISSUER"]


# --- shipyard verify, keyless -------------------------------------------------------------


@pytest.fixture(scope="module")
def keyless_release(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One keyless release (2 platforms, SPDX SBOMs, provenance) in registry A."""
    out = tmp_path_factory.mktemp("keyless")
    repo = f"{stack.registry_a}/it/keyless-{os.urandom(4).hex()}"
    proc = shipyard("--tag", "v4.0.0", "--platform", "linux/amd64,linux/arm64", "--image", repo, *keyless_args(stack),
                    "--sbom", "spdx-json", "--provenance", "--json",
                    stack=stack, out=out, extra_env=runner_env(stack, "v4.0.0"))  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report.get("error")
    return {"repo": repo, "digest": report["digest"], "out": out}


def shipyard_verify(stack: Stack, ref: str, *trust: str) -> tuple[int, dict[str, Any]]:
    args = ["verify", "--image", ref, "--rekor-url", stack.env["SHIPYARD_REKOR_URL"], "--scan-fail-on", "", "--json"]
    args += ["--sigstore-trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"], *trust]
    proc = subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False, timeout=900)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def failures(report: dict[str, Any]) -> str:
    return "\n".join(c["detail"] for c in report["checks"] if not c["ok"])


def test_shipyard_verify_keyless_passes_and_names_a_wrong_identity_or_issuer(stack: Stack, keyless_release: dict[str, Any]) -> None:
    ref = f"{keyless_release['repo']}:4.0.0"
    issuer = stack.env["SHIPYARD_OIDC_ISSUER"]
    exact = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v4.0.0"
    code, report = shipyard_verify(stack, ref, "--certificate-identity", exact, "--certificate-oidc-issuer", issuer)
    assert code == 0 and report["ok"], report
    assert {(c["check"], c["subject"]) for c in report["checks"]} >= {("signature", "index"), ("signature", "linux/arm64")}
    code, report = shipyard_verify(
        stack, ref, "--certificate-identity-regexp", IDENTITY_REGEXP, "--certificate-oidc-issuer-regexp", "^http://127"
    )
    assert code == 0 and report["ok"], report

    code, report = shipyard_verify(
        stack, ref, "--certificate-identity-regexp", "^https://github.com/other/", "--certificate-oidc-issuer", issuer
    )
    assert code == 3 and not report["ok"]
    assert "wrong identity: signed by https://github.com/acme/app/" in failures(report)
    code, report = shipyard_verify(
        stack, ref, "--certificate-identity", exact, "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"
    )
    assert code == 3 and f"wrong issuer: the certificate was issued for a token from {issuer}" in failures(report)


def test_shipyard_verify_keyless_names_a_missing_log_entry_and_a_key_signature(
    stack: Stack, tools: Tools, keyless_release: dict[str, Any]
) -> None:
    source = f"{keyless_release['repo']}@{keyless_release['digest']}"
    trust = ["--certificate-identity-regexp", IDENTITY_REGEXP, "--certificate-oidc-issuer", stack.env["SHIPYARD_OIDC_ISSUER"]]
    # Signed keyless by the same identity, but never recorded in Rekor.
    unlogged = f"{stack.registry_a}/it/unlogged-{os.urandom(4).hex()}"
    tools.run("crane", "copy", "--insecure", source, f"{unlogged}:4.0.0")
    token = _token(stack, 600)
    proc = host_cosign(tools, stack, "sign", "--yes", "--recursive", "--allow-insecure-registry", "--tlog-upload=false",
                       "--fulcio-url", stack.env["SHIPYARD_FULCIO_URL"], "--identity-token", token,
                       f"{unlogged}@{keyless_release['digest']}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1500:]
    code, report = shipyard_verify(stack, f"{unlogged}:4.0.0", *trust, "--attestation", "none")
    assert code == 3 and "no transparency-log entry" in failures(report), failures(report)
    # Signed by a key instead.
    keyed = f"{stack.registry_a}/it/keyed-{os.urandom(4).hex()}"
    tools.run("crane", "copy", "--insecure", source, f"{keyed}:4.0.0")
    key, _ = tools.keypair("publisher")
    tools.sign(f"{keyed}@{keyless_release['digest']}", key)
    code, report = shipyard_verify(stack, f"{keyed}:4.0.0", *trust, "--attestation", "none")
    assert code == 3 and "signed by a key, not keyless" in failures(report), failures(report)
    assert token not in json.dumps(report)


# --- Sigstore bundles as OCI 1.1 referrers ------------------------------------------------------


def test_bundles_are_written_as_referrers_and_verify_reads_them_alone(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v5.0.0", "--platform", "linux/amd64,linux/arm64", "--image", a, *keyless_args(stack), "--sigstore-bundle",
                    "--sbom", "spdx-json", "--provenance", "--json",
                    stack=stack, out=tmp_path, extra_env=runner_env(stack, "v5.0.0"))  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report.get("error")
    digest = report["digest"]
    children = [m["digest"] for m in tools.manifest(f"{a}@{digest}")["manifests"]]
    tags = tools.tags(a)
    bundle_flags = ["--new-bundle-format", "--trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"]]
    trust = ["--certificate-identity-regexp", IDENTITY_REGEXP, "--certificate-oidc-issuer", stack.env["SHIPYARD_OIDC_ISSUER"]]
    for subject in [digest, *children]:
        fallback = subject.replace(":", "-")
        assert fallback in tags and f"{fallback}.sig" in tags  # the bundles' referrers index, and the classic signature
        listed = [tools.manifest(f"{a}@{m['digest']}") for m in tools.manifest(f"{a}:{fallback}")["manifests"]]
        assert {m["artifactType"] for m in listed} == {"application/vnd.dev.sigstore.bundle.v0.3+json"}
        assert {m["subject"]["digest"] for m in listed} == {subject}
        # the signature, and the SPDX SBOM of each platform (the index: both, and the provenance)
        assert len(listed) == (2 if subject != digest else 1 + len(children) + 1), len(listed)
        proc_v = host_cosign(tools, stack, "verify", *bundle_flags, *trust, "--allow-insecure-registry", f"{a}@{subject}")
        assert proc_v.returncode == 0, proc_v.stderr[-1500:]
    proc_v = host_cosign(tools, stack, "verify-attestation", *bundle_flags, *trust, "--type", "slsaprovenance1",
                         "--allow-insecure-registry", f"{a}@{digest}")  # fmt: skip
    assert proc_v.returncode == 0, proc_v.stderr[-1500:]
    # A copy holding the image and its bundles only (no .sig/.att tags): shipyard verify reads the bundles.
    bundles_only = f"{stack.registry_a}/it/bundles-{os.urandom(4).hex()}"
    tools.run("crane", "copy", "--insecure", f"{a}@{digest}", f"{bundles_only}:5.0.0")
    for subject in [digest, *children]:
        fallback = subject.replace(":", "-")
        tools.run("crane", "copy", "--insecure", f"{a}:{fallback}", f"{bundles_only}:{fallback}")
    assert not any(t.endswith((".sig", ".att")) for t in tools.tags(bundles_only))
    code, verified = shipyard_verify(stack, f"{bundles_only}:5.0.0", *trust)
    assert code == 0 and verified["ok"], failures(verified)
    assert all("bundle" in c["detail"].lower() for c in verified["checks"]), verified["checks"]
    assert_no_token_anywhere(stack, proc.stdout, proc.stderr, (tmp_path / "engine.log").read_text())


def test_cleanup_deletes_a_deleted_images_bundles_and_keeps_a_kept_ones(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    """A pre-release and a release (different commits, so different images), both with bundles;
    cleanup keeping no pre-release deletes the pre-release with its referrers, never the release's."""
    a = f"{stack.registry_a}/{repo_name}"
    digests = {}
    for tag, sha in (("v6.0.0-rc.1", "1" * 40), ("v6.0.0", "2" * 40)):
        proc = shipyard("--tag", tag, "--sha", sha, "--platform", "linux/amd64", "--image", a, *keyless_args(stack),
                        "--spec", "type=semver,pattern={{version}}",  # the version tag alone (no sha-<7> tag)
                        "--sigstore-bundle", "--json", stack=stack, out=tmp_path / tag, extra_env=runner_env(stack, tag))  # fmt: skip
        report = report_of(proc)
        assert proc.returncode == 0, report.get("error")
        digests[tag] = report["digest"]
    assert digests["v6.0.0-rc.1"] != digests["v6.0.0"]

    def referrers(digest: str) -> set[str]:
        return {m["digest"] for m in tools.manifest(f"{a}:{digest.replace(':', '-')}")["manifests"]}

    gone, kept = referrers(digests["v6.0.0-rc.1"]), referrers(digests["v6.0.0"])
    assert gone and kept
    proc = subprocess.run([sys.executable, "-m", "shipyard", "cleanup", "--image", a, "--keep-prereleases", "0", "--apply",
                           "--format", "json"], capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for digest in gone | {digests["v6.0.0-rc.1"]}:
        assert not tools.exists(f"{a}@{digest}"), f"{digest} should be gone"
    assert digests["v6.0.0-rc.1"].replace(":", "-") not in tools.tags(a)
    for digest in kept | {digests["v6.0.0"]}:
        assert tools.exists(f"{a}@{digest}"), f"{digest} should be kept"
    trust = ["--certificate-identity-regexp", IDENTITY_REGEXP, "--certificate-oidc-issuer", stack.env["SHIPYARD_OIDC_ISSUER"]]
    bundle_flags = ["--new-bundle-format", "--trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"]]
    kept_ok = host_cosign(tools, stack, "verify", *bundle_flags, *trust, "--allow-insecure-registry", f"{a}@{digests['v6.0.0']}")
    assert kept_ok.returncode == 0, kept_ok.stderr[-1500:]
