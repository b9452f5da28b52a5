"""`shipyard publish` for real: the fixture app built for three platforms and published to the
stack's registries, read back with crane (never from Shipyard's own report alone)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.faults import FaultyProxy
from tests.integration.tools import COSIGN_PASSWORD, Tools
from tests.schemas import validate_sarif, validate_slsa_statement

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "app"
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")
MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l"}
ELF_MACHINES = {"linux/amd64": 0x3E, "linux/arm64": 0xB7, "linux/arm/v7": 0x28}
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


# publish's steps that are on by default, each with the flag that asks for it explicitly.
DEFAULT_STEPS = {"--no-sbom": "--sbom", "--no-provenance": "--provenance", "--no-scan": "--scan-fail-on"}


def shipyard(
    *args: str, stack: Stack, out: Path, extra_env: dict[str, str] | None = None, release_defaults: bool = False
) -> subprocess.CompletedProcess[str]:
    """``shipyard publish`` of the fixture. Unless ``release_defaults``, the steps on by default
    (SBOM, provenance, scan gate) are off except those the test asks for: most tests here are
    about building, pushing and tags, and stay as fast and as focused as they were."""
    base: list[str] = []
    for flag, value in (("--source", str(FIXTURE)), ("--sha", SHA), ("--out", str(out)), ("--source-date-epoch", "1700000000")):
        if flag not in args:  # a test's own value replaces the default (single-value options may be given once)
            base += [flag, value]
    base += ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]
    if not release_defaults:
        base += [off for off, on in DEFAULT_STEPS.items() if on not in args]
    return subprocess.run(
        [sys.executable, "-m", "shipyard", "publish", *base, *args],
        capture_output=True,
        text=True,
        env={**subprocess_env(), **(extra_env or {})},
        check=False,
        timeout=1800,
    )


def subprocess_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def report_of(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON report (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}") from None
    return data


def test_publish_three_platforms_to_two_registries(stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path) -> None:
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    proc = shipyard(
        "--tag", "v1.2.3", "--platform", ",".join(PLATFORMS), "--image", a, "--image", b,
        "--registry-auth", b_auth, "--json", stack=stack, out=tmp_path / "dist",
    )  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report

    digest = tools.digest(f"{a}:1.2.3")
    assert digest == tools.digest(f"{b}:1.2.3") == report["digest"]
    expected_tags = {"1.2.3", "1.2", "1", "sha-860c190", "latest"}
    assert tools.tags(a) == expected_tags and tools.tags(b) == expected_tags
    for tag in expected_tags:
        assert tools.digest(f"{a}:{tag}") == digest and tools.digest(f"{b}:{tag}") == digest

    index = tools.manifest(f"{a}@{digest}")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    listed = [_platform(m["platform"]) for m in index["manifests"]]
    assert listed == ["linux/amd64", "linux/arm/v7", "linux/arm64"]  # the fixed order: os, architecture, variant
    assert index["annotations"]["org.opencontainers.image.version"] == "1.2.3"
    assert index["annotations"]["org.opencontainers.image.revision"] == SHA
    assert index["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    for entry in index["manifests"]:
        platform = _platform(entry["platform"])
        config = json.loads(tools.run("crane", "config", f"{a}@{entry['digest']}").stdout)
        assert _platform(config) == platform  # arm/v7 configs carry the variant too
        assert config["created"] == "2023-11-14T22:13:20Z"
        files = _files(tools, f"{a}@{entry['digest']}", {"etc/app/machine", "usr/local/bin/app"})
        assert files["etc/app/machine"].decode().strip() == MACHINES[platform]  # the emulated RUN step
        elf = files["usr/local/bin/app"]
        assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == ELF_MACHINES[platform]  # cross-compiled

    layout = tmp_path / "dist" / "oci"
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == digest
    assert json.loads((tmp_path / "dist" / "report.json").read_text())["digest"] == digest


def test_a_rerun_is_idempotent_and_a_backport_holds_floating_tags_back(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    first = report_of(shipyard("--tag", "v1.3.0", "--platform", "linux/amd64", "--image", a, "--json", stack=stack, out=tmp_path / "1"))
    assert first["ok"], first
    again = report_of(shipyard("--tag", "v1.3.0", "--platform", "linux/amd64", "--image", a, "--json", stack=stack, out=tmp_path / "2"))
    assert again["ok"] and again["digest"] == first["digest"]

    backport = report_of(shipyard("--tag", "v1.2.4", "--platform", "linux/amd64", "--image", a, "--json", stack=stack, out=tmp_path / "3"))
    assert backport["ok"], backport
    assert {h["tag"] for h in backport["tags_held_back"]} == {"1", "latest"}
    assert tools.digest(f"{a}:latest") == tools.digest(f"{a}:1") == first["digest"]
    assert tools.digest(f"{a}:1.2") == tools.digest(f"{a}:1.2.4") == backport["digest"] != first["digest"]


def test_wrong_credentials_for_one_registry_move_no_tag_anywhere(
    stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    targets = ["--image", a, "--image", b, "--platform", "linux/amd64"]
    first = report_of(shipyard("--tag", "v1.0.0", *targets, "--registry-auth", b_auth, "--json", stack=stack, out=tmp_path / "1"))
    assert first["ok"], first
    before = {repo: {t: tools.digest(f"{repo}:{t}") for t in tools.tags(repo)} for repo in (a, b)}

    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    proc = shipyard(
        "--tag", "v1.1.0", *targets, "--registry-auth", f"{stack.registry_b}={stack.username_b}:file:{wrong}", "--json",
        stack=stack, out=tmp_path / "2",
    )  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3 and not report["ok"]
    assert stack.registry_b in report["error"] and "not-the-password" not in proc.stdout + proc.stderr
    after = {repo: {t: tools.digest(f"{repo}:{t}") for t in tools.tags(repo)} for repo in (a, b)}
    assert after == before  # latest still points where it did, on both registries


def test_publish_converges_through_a_registry_that_fails_half_the_requests(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    with FaultyProxy(stack.registry_a, failure_rate=0.5, seed=7) as proxy:
        repo = f"{proxy.address}/{repo_name}"
        report = report_of(shipyard("--tag", "v2.0.0", "--platform", "linux/amd64", "--image", repo, "--json", stack=stack, out=tmp_path))
        assert proxy.failed > 0
    assert report["ok"], report
    assert tools.digest(f"{stack.registry_a}/{repo_name}:2.0.0") == report["digest"]


def test_a_registry_that_dies_mid_push_moves_no_tag_and_a_rerun_completes(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    with FaultyProxy(stack.registry_a, die_after=6) as proxy:
        repo = f"{proxy.address}/{repo_name}"
        failed = shipyard("--tag", "v3.0.0", "--platform", "linux/amd64", "--image", repo, "--json", stack=stack, out=tmp_path / "1")
        assert failed.returncode == 3, failed.stdout[-2000:]
        assert tools.tags(f"{stack.registry_a}/{repo_name}") == set()
        proxy.revive()
        again = report_of(
            shipyard("--tag", "v3.0.0", "--platform", "linux/amd64", "--image", repo, "--json", stack=stack, out=tmp_path / "2")
        )
    assert again["ok"], again
    assert tools.digest(f"{stack.registry_a}/{repo_name}:latest") == again["digest"]


def test_a_new_repository_mounts_the_blobs_this_machine_pushed_to_another_repository_of_the_registry(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    """As Docker's push does: the second image's repository gets every layer by a cross-repository
    mount from the first (counted at a proxy in front of A: no layer bytes sent again), and the
    registry serves it whole (host crane validates every layer)."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # this machine's record of where blobs went
    with FaultyProxy(stack.registry_a) as proxy:
        first, second = f"{proxy.address}/{repo_name}", f"{proxy.address}/{repo_name}-second"
        one = shipyard("--tag", "v10.0.0", "--platform", "linux/amd64", "--image", first, "--json", stack=stack, out=tmp_path / "one",
                       extra_env=env)  # fmt: skip
        uploaded_first, proxy.received = proxy.received, 0
        two = shipyard("--tag", "v10.0.0", "--platform", "linux/amd64", "--image", second, "--json", stack=stack, out=tmp_path / "two",
                       extra_env=env)  # fmt: skip
        uploaded_second = proxy.received
    assert one.returncode == 0 and two.returncode == 0, (report_of(one), report_of(two))
    digest = report_of(two)["digest"]
    assert report_of(one)["digest"] == digest
    assert uploaded_first > 1_000_000, uploaded_first  # the layers
    assert uploaded_second < 20_000, uploaded_second  # the manifests only
    second_direct = f"{stack.registry_a}/{repo_name}-second"
    tools.run("crane", "validate", "--remote", f"{second_direct}@{digest}")  # every layer there, and whole


def test_a_failing_build_names_the_platform_and_step_and_pushes_nothing(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Dockerfile").write_text(
        f'FROM {stack.images["base"]}\nRUN echo "checking $(uname -m)" && test "$(uname -m)" != aarch64 || exit 7\n'
    )
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--source", str(src), "--tag", "v1.0.0", "--platform", "linux/amd64,linux/arm64", "--image", a, "--json",
                    stack=stack, out=tmp_path / "dist")  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3 and not report["ok"]
    assert "build for linux/arm64 failed" in report["error"] and "exit code: 7" in report["error"]
    assert "checking aarch64" in report["error"]  # the failing step's own output
    assert tools.tags(a) == set() and not tools.exists(f"{a}@sha256:{'0' * 64}")


def test_a_build_secret_reaches_run_mount_but_no_layer_or_report(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    secret = "s3cr3t-build-value-5f1e"
    digest = hashlib.sha256(secret.encode()).hexdigest()  # the Dockerfile names only the hash
    (src / "Dockerfile").write_text(
        f"FROM {stack.images['base']}\n"
        f'RUN --mount=type=secret,id=token test "$(sha256sum < /run/secrets/token | cut -c1-64)" = {digest}'
        " && echo used > /secret-was-there\n"
    )
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--source", str(src), "--tag", "v1.0.0", "--platform", "linux/amd64", "--image", a,
                    "--build-secret", "token=env:SHIPYARD_TEST_BUILD_SECRET", "--json",
                    stack=stack, out=tmp_path / "dist", extra_env={"SHIPYARD_TEST_BUILD_SECRET": secret})  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report
    image = tools.run_bytes("crane", "export", f"{a}:1.0.0", "-")
    assert _files(tools, f"{a}:1.0.0", {"secret-was-there"})["secret-was-there"] == b"used\n"
    assert secret.encode() not in image
    outputs = proc.stdout + proc.stderr + (tmp_path / "dist" / "report.json").read_text()
    assert secret not in outputs + (tmp_path / "dist" / "engine.log").read_text()


def test_rebuild_check_names_every_platform_that_differs(stack: Stack, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    published = report_of(shipyard("--tag", "v5.0.0", "--platform", "linux/amd64,linux/arm64", "--image", a, "--json",
                                   stack=stack, out=tmp_path))  # fmt: skip
    assert published["ok"], published

    def check(epoch: str) -> subprocess.CompletedProcess[str]:
        args = ["rebuild-check", "--tag", "v5.0.0", "--image", f"{a}:5.0.0", "--source", str(FIXTURE), "--sha", SHA]
        args += ["--platform", "linux/amd64,linux/arm64", "--source-date-epoch", epoch, "--json"]
        args += ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]
        return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False, timeout=1800)

    same = check("1700000000")
    assert same.returncode == 0, same.stdout + same.stderr
    assert json.loads(same.stdout)["rebuilt"] == published["digest"]
    other = check("1700000001")
    assert other.returncode == 3
    assert json.loads(other.stdout)["differing"] == ["linux/amd64", "linux/arm64"]


def test_zero_config_publish_needs_nothing_but_a_tag(stack: Stack, tmp_path: Path) -> None:
    """No target, no build arguments: the Dockerfile's own base images (through the stack's
    Docker Hub mirror), an ephemeral registry in the engine, the release kept in --out, and the
    default steps: an SPDX SBOM per platform, provenance, and the CRITICAL,HIGH gate (offline with
    the stack's Trivy DB; the fixture's .trivyignore accepts the stack's synthetic advisory)."""
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "publish", "--tag", "v1.2.3", "--json"],
        cwd=FIXTURE,
        capture_output=True,
        text=True,
        env={**subprocess_env(), "SHIPYARD_OUT_TEST": str(tmp_path)},
        check=False,
        timeout=1800,
    )
    report = report_of(proc)
    assert proc.returncode == 0 and report["ok"], report
    assert [p["platform"] for p in report["platforms"]] == ["linux/amd64", "linux/arm64"]
    (target,) = report["targets"]
    assert target["status"] == "published" and "1.2.3" in target["tags"] and "latest" in target["tags"]
    layout = FIXTURE / "dist" / "oci"
    try:
        index = json.loads((layout / "index.json").read_text())
        assert index["manifests"][0]["digest"] == report["digest"]
        assert json.loads((FIXTURE / "dist" / "report.json").read_text())["digest"] == report["digest"]
        assert report["scan"]["gate"] == "passed" and [i.split()[0] for i in report["scan"]["ignored"]] == ["CVE-2099-0001"] * 2
        assert sorted(Path(p).name for p in report["sboms"]) == ["linux-amd64.spdx-json.json", "linux-arm64.spdx-json.json"]
        assert json.loads((FIXTURE / "dist" / "provenance.json").read_text())["buildDefinition"]["externalParameters"]
        assert report["signatures"] == []  # no key given: auto signs nothing
        assert (FIXTURE / "dist" / "release-notes.md").read_text().startswith("# Release 1.2.3")
    finally:
        shutil.rmtree(FIXTURE / "dist", ignore_errors=True)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--tag", "not a version!"], "tag"),
        (["--tag", "v1.0.0", "--platform", "linux/sparc"], "linux/sparc"),
        (["--tag", "v1.0.0", "--image", "UPPER//bad:"], "UPPER//bad:"),
        (["--tag", "v1.0.0", "--dockerfile", "missing/Dockerfile"], "missing/Dockerfile"),
        (["--tag", "v1.0.0", "--registry-auth", "127.0.0.1:5001=u:file:/nonexistent/secret"], "/nonexistent/secret"),
        (["--tag", "v1.0.0", "--registry-auth", "127.0.0.1:5001=u:env:SHIPYARD_TEST_UNSET"], "SHIPYARD_TEST_UNSET"),
    ],
)
def test_bad_input_fails_before_anything_is_built(stack: Stack, tmp_path: Path, args: list[str], named: str) -> None:
    target = [] if "--image" in args else ["--image", f"{stack.registry_a}/it/never-pushed"]
    proc = shipyard(*args, *target, stack=stack, out=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert named in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def _platform(p: dict[str, Any]) -> str:
    return "/".join(filter(None, (p["os"], p["architecture"], p.get("variant"))))


def _files(tools: Tools, ref: str, wanted: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tools.run_bytes("crane", "export", ref, "-")), mode="r|*") as tar:
        for member in tar:
            name = member.name.lstrip("./")
            if name in wanted and member.isreg():
                handle = tar.extractfile(member)
                assert handle is not None
                found[name] = handle.read()
    assert set(found) == wanted, f"missing in {ref}: {wanted - set(found)}"
    return found


def test_the_report_says_which_stages_cross_compiled_and_which_ran_per_platform(stack: Stack, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    report = report_of(shipyard("--tag", "v6.0.0", "--platform", "linux/arm64", "--image", a, "--json", stack=stack, out=tmp_path))
    assert report["stages"] == [
        "build: native on the builder (cross-compiles for each platform)",
        "stage 1: per platform; RUN steps of foreign platforms under QEMU",
    ]


def test_a_signed_release_verifies_on_every_registry_for_the_index_and_each_platform(
    stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    key, pub = tools.keypair("publisher")
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    sign = ["--sign", "key", "--key", f"file:{key}", "--cosign-password", "env:SHIPYARD_TEST_COSIGN_PASSWORD"]
    proc = shipyard("--tag", "v7.0.0", "--platform", "linux/amd64,linux/arm64", "--image", a, "--image", b,
                    "--registry-auth", b_auth, *sign, "--json", stack=stack, out=tmp_path,
                    extra_env={"SHIPYARD_TEST_COSIGN_PASSWORD": COSIGN_PASSWORD})  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report
    assert {s["repository"] for s in report["signatures"]} == {a, b}
    digest = report["digest"]
    children = [m["digest"] for m in tools.manifest(f"{a}@{digest}")["manifests"]]
    for repo in (a, b):
        for signed in [digest, *children]:
            assert tools.verify(f"{repo}@{signed}", pub), f"{repo}@{signed} is not signed by the release key"
    for signed in [digest, *children]:  # cosign wrote them in A; B holds the same manifests, byte for byte
        tag = f"sha256-{signed.split(':', 1)[1]}.sig"
        assert tools.digest(f"{a}:{tag}") == tools.digest(f"{b}:{tag}"), tag
    _, other = tools.keypair("someone-else")
    assert not tools.verify(f"{a}@{digest}", other)
    assert COSIGN_PASSWORD not in proc.stdout + proc.stderr + (tmp_path / "engine.log").read_text()


def test_cosign_writes_in_one_registry_and_the_others_get_the_same_tags_keeping_their_earlier_signatures(
    stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    """cosign signs and attests in the first target; the second gets copies of its tags. B held
    the same digest already, signed by an earlier release with another key: it keeps that
    signature and gains the new one, read back with host cosign and crane."""
    earlier, earlier_pub = tools.keypair("earlier-release")
    key, pub = tools.keypair("publisher")
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    env = {"SHIPYARD_TEST_COSIGN_PASSWORD": COSIGN_PASSWORD}

    def release(name: str, signing_key: Path, *images: str) -> dict[str, Any]:
        flags = [arg for image in images for arg in ("--image", image)]
        proc = shipyard("--tag", "v9.0.0", "--platform", "linux/amd64", *flags, "--registry-auth", b_auth, "--sbom", "spdx-json",
                        "--provenance", "--sign", "key", "--key", f"file:{signing_key}",
                        "--cosign-password", "env:SHIPYARD_TEST_COSIGN_PASSWORD", "--json",
                        stack=stack, out=tmp_path / name, extra_env=env)  # fmt: skip
        report = report_of(proc)
        assert proc.returncode == 0, report
        return report

    first = release("first", earlier, b)
    second = release("second", key, a, b)  # the same release again, to A too
    digest = second["digest"]
    assert first["digest"] == digest  # the same source, the same digest: B held it, signed
    platform = tools.manifest(f"{a}@{digest}")["manifests"][0]["digest"]
    for repo in (a, b):
        for subject in (digest, platform):
            assert tools.verify(f"{repo}@{subject}", pub), f"{repo}@{subject}"
            assert tools.verify_attestation(f"{repo}@{subject}", pub, "spdxjson"), f"{repo}@{subject}"
        assert tools.verify_attestation(f"{repo}@{digest}", pub, "slsaprovenance1"), repo
    made = ((digest, "spdxjson"), (platform, "spdxjson"), (digest, "slsaprovenance1"))
    assert {(x["repository"], x["subject"], x["type"]) for x in second["attestations"]} == {(r, s, k) for r in (a, b) for s, k in made}
    # B kept the earlier release's signatures and attestations; A never had them
    assert tools.verify(f"{b}@{digest}", earlier_pub) and tools.verify_attestation(f"{b}@{digest}", earlier_pub, "spdxjson")
    assert not tools.verify(f"{a}@{digest}", earlier_pub)
    sig = f"sha256-{digest.split(':', 1)[1]}.sig"
    assert len(tools.manifest(f"{b}:{sig}")["layers"]) == 2 and len(tools.manifest(f"{a}:{sig}")["layers"]) == 1
    platform_sig = f"sha256-{platform.split(':', 1)[1]}.sig"  # merged too: the new signature after the earlier one
    assert tools.manifest(f"{b}:{platform_sig}")["layers"][-1] == tools.manifest(f"{a}:{platform_sig}")["layers"][0]


def test_a_release_that_cannot_be_signed_moves_no_tag(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    key, _ = tools.keypair("publisher")
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v7.0.0", "--platform", "linux/amd64", "--image", a, "--sign", "key",
                    "--key", f"file:{key}", "--cosign-password", "env:SHIPYARD_TEST_WRONG", "--json",
                    stack=stack, out=tmp_path, extra_env={"SHIPYARD_TEST_WRONG": "not-the-key-password"})  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3 and "signing failed" in report["error"]
    assert tools.tags(a) == set()
    assert "not-the-key-password" not in proc.stdout + proc.stderr


def test_each_platform_carries_its_own_sbom_attestation_and_the_index_one_per_platform(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    key, pub = tools.keypair("publisher")
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v8.0.0", "--platform", "linux/amd64,linux/arm64", "--image", a, "--sbom", "spdx-json", "--provenance",
                    "--sign", "key", "--key", f"file:{key}", "--cosign-password", "env:SHIPYARD_TEST_COSIGN_PASSWORD",
                    "--json", stack=stack, out=tmp_path, extra_env={"SHIPYARD_TEST_COSIGN_PASSWORD": COSIGN_PASSWORD})  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report
    digest = report["digest"]
    platforms = {m["platform"]["architecture"]: m["digest"] for m in tools.manifest(f"{a}@{digest}")["manifests"]}
    for arch, manifest in platforms.items():
        assert tools.verify_attestation(f"{a}@{manifest}", pub, "spdxjson"), arch
        sbom = json.loads((tmp_path / "sbom" / f"linux-{arch}.spdx-json.json").read_text())
        purls = {r["referenceLocator"] for p in sbom["packages"] for r in p.get("externalRefs", [])}
        assert any(p.startswith("pkg:deb/debian/coreutils@") and f"arch={arch}" in p for p in purls), arch  # its own platform
    assert tools.verify_attestation(f"{a}@{digest}", pub, "spdxjson")
    on_index = [x for x in report["attestations"] if x["subject"] == digest and x["type"] == "spdxjson"]
    assert sorted(x["platform"] for x in on_index) == ["linux/amd64", "linux/arm64"]

    # SLSA v1 provenance on the index, read back from the registry with host cosign.
    assert tools.verify_attestation(f"{a}@{digest}", pub, "slsaprovenance1")
    proc = tools.run("cosign", "verify-attestation", "--key", str(pub), "--type", "slsaprovenance1", "--insecure-ignore-tlog",
                     "--allow-insecure-registry", f"{a}@{digest}")  # fmt: skip
    statement = json.loads(base64.b64decode(json.loads(proc.stdout.splitlines()[0])["payload"]))
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"][0]["digest"]["sha256"] == digest.split(":", 1)[1]
    build = statement["predicate"]["buildDefinition"]
    assert build["externalParameters"]["source"]["digest"]["gitCommit"] == SHA
    assert build["externalParameters"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert statement["predicate"]["runDetails"]["builder"]["version"]["dagger"].startswith("v0.19.10")
    validate_slsa_statement(statement)  # the in-toto Statement and SLSA v1 provenance schemas


def test_the_scan_gate_on_every_platform_blocks_the_release_until_the_finding_is_accepted(
    stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    """The stack's base image has a synthetic HIGH advisory (CVE-2099-0001 in coreutils); the
    fixture accepts it in its .trivyignore, so this test builds a copy without that file."""
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src, ignore=shutil.ignore_patterns(".trivyignore", "dist"))
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    args = ["--source", str(src), "--tag", "v9.0.0", "--platform", "linux/amd64,linux/arm64", "--image", a, "--image", b,
            "--registry-auth", b_auth, "--scan-fail-on", "CRITICAL,HIGH", "--json"]  # fmt: skip
    blocked = shipyard(*args, stack=stack, out=tmp_path / "1")
    report = report_of(blocked)
    assert blocked.returncode == 3 and report["scan"]["gate"] == "failed"
    assert "CVE-2099-0001 (HIGH) in coreutils" in report["error"]
    assert "linux/amd64" in report["error"] and "linux/arm64" in report["error"]  # every platform scanned
    assert tools.tags(a) == set() and tools.tags(b) == set()  # no tag moved on either registry
    for platform in ("linux-amd64", "linux-arm64"):
        assert json.loads((tmp_path / "1" / "scan" / f"{platform}.trivy.json").read_text())["Results"]
    sarif = json.loads((tmp_path / "1" / "scan" / "trivy.sarif").read_text())  # one log for code scanning
    validate_sarif(sarif)
    assert report["scan"]["sarif"] == str(tmp_path / "1" / "scan" / "trivy.sarif")
    found = {(r["ruleId"], r["properties"]["platform"]) for r in sarif["runs"][0]["results"]}
    assert found == {("CVE-2099-0001", "linux/amd64"), ("CVE-2099-0001", "linux/arm64")}

    ignore = tmp_path / ".trivyignore"
    ignore.write_text("# accepted: synthetic advisory of the test stack\nCVE-2099-0001\n")
    accepted = report_of(shipyard(*args, "--trivyignore", str(ignore), stack=stack, out=tmp_path / "2"))
    assert accepted["ok"] and accepted["scan"]["gate"] == "passed"
    assert len(accepted["scan"]["ignored"]) == 2
    assert tools.digest(f"{a}:latest") == accepted["digest"] == tools.digest(f"{b}:latest")


def test_the_same_source_gives_the_same_digest_after_an_engine_cache_wipe_a_minute_later(
    stack: Stack, repo_name: str, tmp_path: Path
) -> None:
    """Reproducible: same source, version and SOURCE_DATE_EPOCH, a cold engine cache and a later
    clock give the same index digest (runs last: it leaves the engine's cache cold)."""
    a = f"{stack.registry_a}/{repo_name}"
    args = ["--tag", "v4.0.0", "--platform", ",".join(PLATFORMS), "--json"]
    started = time.monotonic()
    first = report_of(shipyard(*args, "--image", f"{a}-1", stack=stack, out=tmp_path / "1"))
    assert first["ok"], first
    subprocess.run(["bash", str(ROOT / "ci" / "stack"), "reset-engine"], check=True, capture_output=True, timeout=300)
    time.sleep(max(0.0, 61 - (time.monotonic() - started)))
    second = report_of(shipyard(*args, "--image", f"{a}-2", stack=stack, out=tmp_path / "2"))
    assert second["ok"], second
    assert second["digest"] == first["digest"]
    assert second["platforms"] == first["platforms"]
