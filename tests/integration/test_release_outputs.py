"""What a release checks before its tags move and what it leaves behind: the ``--smoke-port``
smoke test of every platform's image, and release-notes.md, whose commands are run as printed
against the registries. (The compose-file smoke test: test_smoke_compose.py.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.integration.conftest import Stack
from tests.integration.test_publish import report_of, shipyard
from tests.integration.tools import COSIGN_PASSWORD, Tools

pytestmark = pytest.mark.integration


def test_a_healthy_image_passes_the_smoke_test_before_its_tags_move(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v1.0.0", "--platform", "linux/amd64,linux/arm64", "--image", a,
                    "--smoke-port", "8080", "--smoke-path", "/health", "--json", stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report
    smoke = report["smoke"]
    assert smoke["result"] == "passed" and smoke["source"] == "--smoke-port"
    # both platforms, arm64 under QEMU; the fixture's image has no HTTP client: the supervisor asks
    assert [(p["platform"], p["status"]) for p in smoke["platforms"]] == [("linux/amd64", "healthy"), ("linux/arm64", "healthy")]
    assert all(p["output"].startswith("HTTP 200") and p["check"] == "GET http://localhost:8080/health" for p in smoke["platforms"])
    assert report["timings"]["smoke"] > 0
    assert tools.digest(f"{a}:latest") == report["digest"]


def test_an_unhealthy_image_fails_the_release_and_moves_no_tag(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v1.0.0", "--platform", "linux/amd64", "--image", a, "--smoke-cmd", "unhealthy",
                    "--smoke-port", "8080", "--smoke-path", "/health", "--smoke-timeout", "5", "--json",
                    stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3 and not report["ok"]
    assert "smoke test failed on linux/amd64" in report["error"] and ":8080/health" in report["error"] and "HTTP 500" in report["error"]
    (amd64,) = report["smoke"]["platforms"]
    assert report["smoke"]["result"] == "failed" and amd64["status"] == "timeout" and "database unreachable" in amd64["output"]
    assert tools.tags(a) == set()  # pushed by digest, but no tag moved


def test_an_image_whose_command_exits_fails_naming_its_exit(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    """``--smoke-cmd version`` makes the fixture print its platform and exit: the app's exit and its output are reported."""
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v1.0.0", "--platform", "linux/amd64", "--image", a, "--smoke-port", "8080",
                    "--smoke-cmd", "version", "--smoke-timeout", "3", "--json", stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3
    assert "smoke test failed on linux/amd64" in report["error"] and "the app exited (exit code 0)" in report["error"]
    (amd64,) = report["smoke"]["platforms"]
    assert amd64["status"] == "exited" and amd64["logs"] == ["linux/amd64"]  # what `app version` printed
    assert tools.tags(a) == set()


def test_a_native_only_smoke_test_needs_the_engines_platform_in_the_release(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v1.0.0", "--platform", "linux/arm64", "--image", a, "--smoke-port", "8080",
                    "--smoke-platforms", "native", "--json", stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3
    assert "the engine runs linux/amd64, which this release does not build (linux/arm64)" in report["error"]
    assert tools.tags(a) == set()


def test_every_command_in_the_release_notes_works_as_printed(
    stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    """A release with publish's defaults (SPDX SBOMs, provenance, the scan gate, signed because a
    key is given) and the smoke test, to A and B; then each command line of release-notes.md runs
    against the registries it names. ``docker pull`` cannot run here (no Docker daemon): its
    reference is resolved with host ``crane digest`` instead and must name the release.
    ``cosign.pub`` is replaced by the test key's path, nothing else."""
    key, pub = tools.keypair("publisher")
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    proc = shipyard("--tag", "v2.1.0", "--platform", "linux/amd64,linux/arm64", "--image", a, "--image", b,
                    "--registry-auth", b_auth, "--smoke-port", "8080", "--smoke-path", "/health",
                    "--key", f"file:{key}", "--cosign-password", "env:SHIPYARD_TEST_COSIGN_PASSWORD", "--json",
                    stack=stack, out=tmp_path, extra_env={"SHIPYARD_TEST_COSIGN_PASSWORD": COSIGN_PASSWORD},
                    release_defaults=True)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report
    notes = (tmp_path / "release-notes.md").read_text()
    assert notes.startswith("# Release 2.1.0") and report["digest"] in notes
    assert "`sbom/linux-amd64.spdx-json.json`" in notes and (tmp_path / "sbom" / "linux-amd64.spdx-json.json").is_file()
    assert "gate passed" in notes and "accepted: CVE-2099-0001" in notes  # the fixture's .trivyignore
    assert "Health check from --smoke-port" in notes and "- linux/arm64: healthy after" in notes

    lines = [line for block in re.findall(r"```sh\n(.*?)```", notes, re.DOTALL) for line in block.splitlines() if line.strip()]
    ran: dict[str, int] = {}
    for line in lines:
        words = shlex.split(line)
        ran[" ".join(words[:2])] = ran.get(" ".join(words[:2]), 0) + 1
        if words[:2] == ["docker", "pull"]:
            assert tools.digest(words[2]) == report["digest"], line
            continue
        assert words[0] == "cosign", line
        args = [str(pub) if w == "cosign.pub" else w for w in words[1:]]
        done = tools.run("cosign", *args, check=False)
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    assert ran == {"docker pull": 4, "cosign verify": 2, "cosign verify-attestation": 4}  # both registries: tag and digest; spdx + slsa
