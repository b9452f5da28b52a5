"""`shipyard verify` on real releases in the stack's registries, and the secrets a signed
release handles appearing nowhere (outputs, reports, SBOMs, SARIF, provenance, image layers).

One signed release (2 platforms, SPDX SBOMs, provenance, scan) is published to A and B; the
failure cases are copies of it (``crane copy --all-tags``) altered the way a consumer would meet
them, so each test reads its own repository.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.tools import COSIGN_PASSWORD, Tools

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "app"
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
BUILD_SECRET = "build-secret-value-1f6c0d"


@dataclass
class Release:
    a: str
    b: str
    digest: str
    platforms: dict[str, str]  # platform -> manifest digest
    pub: Path
    out: Path
    trivyignore: Path
    outputs: str  # stdout + stderr of the publish
    b_password_file: Path


def run_shipyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def release(stack: Stack, tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    home = tmp_path_factory.mktemp("verify")
    key, pub = tools.keypair("publisher")
    name = f"it/verify-{uuid.uuid4().hex[:8]}"
    a, b = f"{stack.registry_a}/{name}", f"{stack.registry_b}/{name}"
    password_file = home / "b-password"
    password_file.write_text(stack.password_b)
    ignore = home / ".trivyignore"
    ignore.write_text("CVE-2099-0001\n")
    out = home / "dist"
    proc = run_shipyard(
        "publish", "--tag", "v1.0.0", "--source", str(FIXTURE), "--sha", SHA, "--source-date-epoch", "1700000000",
        "--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}",
        "--platform", "linux/amd64,linux/arm64", "--image", a, "--image", b,
        "--registry-auth", f"{stack.registry_b}={stack.username_b}:file:{password_file}",
        "--build-secret", "token=env:SHIPYARD_TEST_BUILD_SECRET",
        "--sign", "key", "--key", f"file:{key}", "--cosign-password", "env:SHIPYARD_TEST_COSIGN_PASSWORD",
        "--sbom", "spdx-json", "--provenance", "--scan-fail-on", "CRITICAL,HIGH", "--trivyignore", str(ignore),
        "--out", str(out), "--json",
        env={"SHIPYARD_TEST_COSIGN_PASSWORD": COSIGN_PASSWORD, "SHIPYARD_TEST_BUILD_SECRET": BUILD_SECRET},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    platforms = {p["platform"]: p["digest"] for p in report["platforms"]}
    yield Release(a, b, report["digest"], platforms, pub, out, ignore, proc.stdout + proc.stderr, password_file)


def verify(release: Release, ref: str, *extra: str, pub: Path | None = None, out: Path | None = None) -> tuple[int, dict[str, Any]]:
    args = ["verify", "--image", ref, "--key", str(pub or release.pub), "--trivyignore", str(release.trivyignore), "--json"]
    if ref.startswith(release.b.split("/", 1)[0]):
        args += ["--registry-auth", f"{ref.split('/', 1)[0]}=shipyard:file:{release.b_password_file}"]
    if out is not None:
        args += ["--out", str(out)]
    proc = run_shipyard(*args, *extra)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON report (exit {proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}") from None


def copy_repository(tools: Tools, source: str, stack: Stack) -> str:
    """The whole repository (release, signatures, attestations) under a new name in registry A."""
    target = f"{stack.registry_a}/it/copy-{uuid.uuid4().hex[:8]}"
    tools.run("crane", "copy", "--all-tags", "--insecure", source, target)
    return target


def failed(report: dict[str, Any]) -> str:
    return "\n".join(report["failures"] + report["hints"])


def test_host_cosign_verifies_signatures_and_attestations_on_both_registries(release: Release, tools: Tools) -> None:
    """The independent check: the host's own cosign, not Shipyard's verify."""
    for repo in (release.a, release.b):
        for subject in [release.digest, *release.platforms.values()]:
            assert tools.verify(f"{repo}@{subject}", release.pub), f"{repo}@{subject} signature"
            assert tools.verify_attestation(f"{repo}@{subject}", release.pub, "spdxjson"), f"{repo}@{subject} spdxjson"
        assert tools.verify_attestation(f"{repo}@{release.digest}", release.pub, "slsaprovenance1"), f"{repo} provenance"


def test_verify_passes_on_both_registries_and_reads_out_each_platform(release: Release, tmp_path: Path) -> None:
    for repo in (release.a, release.b):
        code, report = verify(release, f"{repo}:1.0.0", out=tmp_path / repo.split("/", 1)[0].replace(":", "-"))
        assert code == 0 and report["ok"], failed(report)
        assert report["digest"] == release.digest
        checked = {(c["check"], c["subject"]) for c in report["checks"] if c["ok"]}
        for subject in ("index", "linux/amd64", "linux/arm64"):
            assert ("signature", subject) in checked and ("attestation spdxjson", subject) in checked
        assert ("attestation slsaprovenance1", "index") in checked
        assert report["scan"]["gate"] == "passed" and len(report["scan"]["ignored"]) == 2  # re-scanned, every platform
        images = {i["platform"]: i for i in report["images"]}
        assert set(images) == {"linux/amd64", "linux/arm64"}
        assert {i["digest"] for i in images.values()} == set(release.platforms.values())
        for image in images.values():
            assert image["user"] == "65532" and image["exposed_ports"] == ["8080/tcp"]
            assert image["entrypoint"] == ["/usr/local/bin/app"] and image["os"] == "linux" and image["size"] > 0
    for arch in ("amd64", "arm64"):  # the SBOM taken out of each platform's verified attestation
        sbom = json.loads((tmp_path / release.b.split("/", 1)[0].replace(":", "-") / "sbom" / f"linux-{arch}.spdxjson.json").read_text())
        purls = {r["referenceLocator"] for p in sbom["packages"] for r in p.get("externalRefs", [])}
        assert any(p.startswith("pkg:deb/debian/coreutils@") and f"arch={arch}" in p for p in purls)


def test_verify_fails_on_an_unsigned_copy_of_the_image(release: Release, tools: Tools, stack: Stack) -> None:
    unsigned = f"{stack.registry_a}/it/unsigned-{uuid.uuid4().hex[:8]}:1.0.0"
    tools.run("crane", "copy", "--insecure", f"{release.a}@{release.digest}", unsigned)  # the image, not its .sig/.att tags
    code, report = verify(release, unsigned, "--scan-fail-on", "")
    assert code == 3 and not report["ok"]
    assert report["digest"] == release.digest  # the same image: only the signatures are missing
    assert "signature on index" in failed(report) and "never signed" in failed(report)


def test_verify_fails_against_another_key(release: Release, tools: Tools) -> None:
    _, other = tools.keypair("someone-else")
    code, report = verify(release, f"{release.a}:1.0.0", "--scan-fail-on", "", pub=other)
    assert code == 3
    bad = {c["subject"] for c in report["checks"] if c["check"] == "signature" and not c["ok"]}
    assert bad == {"index", "linux/amd64", "linux/arm64"}
    assert "signed, but not by" in failed(report)


def test_verify_fails_naming_a_removed_sbom_attestation(release: Release, tools: Tools, stack: Stack) -> None:
    copy = copy_repository(tools, release.a, stack)
    arm64 = release.platforms["linux/arm64"].split(":", 1)[1]
    attestations = tools.digest(f"{copy}:sha256-{arm64}.att")
    tools.run("crane", "delete", "--insecure", f"{copy}@{attestations}")
    code, report = verify(release, f"{copy}:1.0.0", "--scan-fail-on", "")
    assert code == 3
    assert [(c["check"], c["subject"]) for c in report["checks"] if not c["ok"]] == [("attestation spdxjson", "linux/arm64")]
    assert "linux/arm64" in failed(report) and "no attestations stored" in failed(report)


def test_verify_fails_when_the_tag_points_to_another_digest_than_the_signed_one(release: Release, tools: Tools, stack: Stack) -> None:
    copy = copy_repository(tools, release.a, stack)
    tools.run("crane", "copy", "--insecure", stack.images["crane"], f"{copy}:1.0")  # the tag moved to some other image
    code, report = verify(release, f"{copy}:1.0", "--scan-fail-on", "", "--attestation", "none")
    assert code == 3
    assert report["digest"] != release.digest
    hint = next(h for h in report["hints"] if "the tag was moved" in h)
    assert f"{copy}:1.0 points to {report['digest']}, which has no signature" in hint and release.digest in hint
    assert "the tag was moved after the release was signed" in failed(report)


def test_bad_verify_input_is_refused_before_anything_runs(release: Release) -> None:
    proc = run_shipyard("verify", "--image", f"{release.a}:1.0.0")
    assert proc.returncode == 2 and "--key" in proc.stderr and "--certificate-identity" in proc.stderr
    proc = run_shipyard("verify", "--image", f"{release.a}:1.0.0", "--key", str(release.pub), "--attestation", "sbom")
    assert proc.returncode == 2 and "--attestation 'sbom'" in proc.stderr


def _layer_texts(tools: Tools, repo: str, digest: str) -> Iterator[tuple[str, bytes]]:
    for manifest_digest in [m["digest"] for m in tools.manifest(f"{repo}@{digest}")["manifests"]]:
        manifest = tools.manifest(f"{repo}@{manifest_digest}")
        config = manifest["config"]["digest"]
        yield config, tools.run_bytes("crane", "blob", "--insecure", f"{repo}@{config}")
        for layer in manifest["layers"]:
            blob = tools.run_bytes("crane", "blob", "--insecure", f"{repo}@{layer['digest']}")
            yield layer["digest"], gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob


def test_no_secret_value_appears_in_any_output_report_or_layer(release: Release, tools: Tools, stack: Stack) -> None:
    secrets = {"registry B password": stack.password_b, "cosign key password": COSIGN_PASSWORD, "build secret": BUILD_SECRET}
    places: dict[str, bytes] = {"publish stdout+stderr": release.outputs.encode()}
    for path in sorted(p for p in release.out.rglob("*") if p.is_file()):  # report, SBOMs, SARIF, provenance, engine log, layout
        places[str(path.relative_to(release.out))] = path.read_bytes()
    assert {"report.json", "provenance.json", "scan/trivy.sarif", "engine.log"} <= set(places)
    assert any(name.startswith("sbom/") for name in places)
    for blob, data in _layer_texts(tools, release.a, release.digest):
        places[f"image blob {blob}"] = data
    leaks = [f"{what} in {where}" for where, data in places.items() for what, value in secrets.items() if value.encode() in data]
    assert leaks == []
    assert len(places) > 10


def test_dagger_call_verify_passes_on_the_release_and_fails_on_another_key(release: Release, tools: Tools, stack: Stack) -> None:
    from tests.integration.test_module_mode import dagger

    port = release.a.split("/", 1)[0].rsplit(":", 1)[1]
    ref = f"localhost:{port}/{release.a.split('/', 1)[1]}:1.0.0"
    base = ["call", "verify", "--image", ref, "--registry", f"tcp://localhost:{port}", "--trivyignore", str(release.trivyignore)]
    base += ["--tool-images", stack.env["SHIPYARD_TOOL_IMAGES"]]  # a module sees no environment: the stack's images
    report = json.loads(dagger(stack, *base, "--key", str(release.pub), "--format", "json"))
    assert report["ok"] and report["digest"] == release.digest
    _, other = tools.keypair("someone-else")
    env = {**stack.env, "NO_COLOR": "1"}
    proc = subprocess.run(
        [stack.env["_EXPERIMENTAL_DAGGER_CLI_BIN"], "--progress=plain", *base, "--key", str(other)],
        cwd=ROOT, env={**__import__("os").environ, **env}, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "signature on index" in proc.stdout + proc.stderr


def test_an_unreachable_tool_image_is_named_with_the_fix(release: Release, tmp_path: Path) -> None:
    images = tmp_path / "tools.json"
    images.write_text(json.dumps({"cosign": "127.0.0.1:5000/it/no-such-cosign:v0"}))
    proc = run_shipyard(
        "verify", "--image", f"{release.a}:1.0.0", "--key", str(release.pub), "--scan-fail-on", "",
        env={"SHIPYARD_TOOL_IMAGES": str(images)},
    )  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot run the tool image 127.0.0.1:5000/it/no-such-cosign:v0" in proc.stderr and "SHIPYARD_TOOL_IMAGES" in proc.stderr
