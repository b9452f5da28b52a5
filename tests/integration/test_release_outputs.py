"""What a release leaves behind and checks before its tags move: the smoke test of the native
image, read back with crane (tags moved or not) and from the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.test_publish import report_of, shipyard
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

UNHEALTHY = ROOT / "tests" / "fixtures" / "unhealthy"


def test_a_healthy_image_passes_the_smoke_test_before_its_tags_move(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v1.0.0", "--platform", "linux/amd64,linux/arm64", "--target", a,
                    "--smoke-port", "8080", "--smoke-path", "/health", "--json", stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 0, report
    smoke = report["smoke"]
    assert smoke["result"] == "passed" and smoke["status"] == 200
    assert smoke["platform"] == "linux/amd64" and smoke["port"] == 8080 and smoke["path"] == "/health"  # the engine's native platform
    assert report["timings"]["smoke"] > 0
    assert tools.digest(f"{a}:latest") == report["digest"]


def test_an_unhealthy_image_fails_the_release_and_moves_no_tag(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--source", str(UNHEALTHY), "--tag", "v1.0.0", "--platform", "linux/amd64", "--target", a,
                    "--smoke-port", "8080", "--smoke-path", "/health", "--smoke-timeout", "5", "--json",
                    stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3 and not report["ok"]
    assert "smoke test failed" in report["error"] and ":8080/health" in report["error"] and "HTTP 500" in report["error"]
    assert report["smoke"]["result"] == "failed" and report["smoke"]["status"] == 500
    assert tools.tags(a) == set()  # pushed by digest, but no tag moved


def test_an_image_whose_command_exits_fails_naming_the_connection_error(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    """``--smoke-cmd version`` makes the fixture print its platform and exit: nothing listens."""
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v1.0.0", "--platform", "linux/amd64", "--target", a, "--smoke-port", "8080",
                    "--smoke-cmd", "version", "--smoke-timeout", "3", "--json", stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3
    assert "smoke test failed" in report["error"] and ":8080/" in report["error"] and "connection error" in report["error"]
    assert report["smoke"]["status"] is None and report["smoke"]["error"]
    assert tools.tags(a) == set()


def test_the_smoke_test_needs_the_engines_native_platform_in_the_release(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    proc = shipyard("--tag", "v1.0.0", "--platform", "linux/arm64", "--target", a, "--smoke-port", "8080", "--json",
                    stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3
    assert "the engine runs linux/amd64, which this release does not build (linux/arm64)" in report["error"]
    assert tools.tags(a) == set()
