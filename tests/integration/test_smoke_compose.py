"""The smoke test from the user's own compose file (tests/fixtures/compose-app): its service's
healthcheck runs inside the released image on every platform (two of three under QEMU), after
the service it depends on is healthy, with its environment, env_file and volume applied; a
failure on one platform stops the release with no tag moved. Tags are read back with crane."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.test_publish import SHA, report_of, subprocess_env
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "compose-app"
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def publish(*args: str, source: Path, stack: Stack, out: Path) -> subprocess.CompletedProcess[str]:
    """``shipyard publish`` of a compose fixture; SBOM, provenance and scan off (these tests are about the smoke test)."""
    base = ["--source", str(source), "--sha", SHA, "--out", str(out), "--source-date-epoch", "1700000000"]
    base += ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]
    base += ["--no-sbom", "--no-provenance", "--no-scan", "--json"]
    return subprocess.run(
        [sys.executable, "-m", "shipyard", "publish", *base, *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
        timeout=1800,
    )


def copy_fixture(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(FIXTURE, source)
    return source


def test_the_compose_healthcheck_passes_on_every_platform_before_tags_move(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    """No smoke flag at all: the source's compose.yaml has a service whose build is this image."""
    a = f"{stack.registry_a}/{repo_name}"
    proc = publish("--tag", "v1.0.0", "--platform", ",".join(PLATFORMS), "--image", a, source=FIXTURE, stack=stack, out=tmp_path / "out")
    report = report_of(proc)
    assert proc.returncode == 0, report
    smoke = report["smoke"]
    assert smoke["result"] == "passed" and smoke["source"] == "compose.yaml service app"
    results = {p["platform"]: p for p in smoke["platforms"]}
    assert list(results) == list(PLATFORMS)  # three results, one per published platform
    expected = {p: f"ok from {p.removesuffix('/v7')} as uid 1234" for p in PLATFORMS}  # Go says linux/arm for arm/v7
    for platform, result in results.items():
        assert result["status"] == "healthy" and result["seconds"] > 0 and result["checks"] >= 1, result
        assert result["check"] == "CMD-SHELL wget -q -O - http://localhost:8080/health || exit 1"
        # the image's own wget, run by the image's /bin/sh inside that platform's container: the app
        # answered with the architecture and the compose user it runs as, after reading APP_MODE
        # from app.env, reaching `deps` (python -m http.server from the mirror) and writing into
        # its working_dir, the fresh volume
        assert result["output"].strip() == expected[platform], result
    assert tools.digest(f"{a}:1.0.0") == report["digest"] and tools.digest(f"{a}:latest") == report["digest"]
    notes = (tmp_path / "out" / "release-notes.md").read_text()
    assert "- linux/arm/v7: healthy after" in notes


def test_a_healthcheck_failing_only_on_arm_v7_stops_the_release_on_every_registry(
    stack: Stack, tools: Tools, repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    proc = publish("--tag", "v1.0.0", "--platform", ",".join(PLATFORMS), "--image", a, "--image", b, "--registry-auth", b_auth,
                   "--build-arg", "BROKEN_ON=armv7", "--smoke-timeout", "120",
                   source=FIXTURE, stack=stack, out=tmp_path)  # fmt: skip
    report = report_of(proc)
    assert proc.returncode == 3 and not report["ok"], report
    error = report["error"]
    assert error.startswith("smoke test failed on linux/arm/v7 (compose.yaml service app)")
    assert "unhealthy after" in error
    assert "broken on linux/arm (built with BROKEN_ON)" in error and "server returned error: HTTP 500" in error  # the check's output
    assert "no tag was moved on any registry" in error
    results = {p["platform"]: p["status"] for p in report["smoke"]["platforms"]}
    assert results == {"linux/amd64": "healthy", "linux/arm64": "healthy", "linux/arm/v7": "unhealthy"}
    arm = next(p for p in report["smoke"]["platforms"] if p["platform"] == "linux/arm/v7")
    # Docker's timing: failures inside start_period (20s, checked every start_interval 1s) do not
    # count; then retries (3) failures interval (2s) apart: at least 24s and more than 3 checks
    assert arm["seconds"] >= 24 and arm["checks"] > 3 and arm["exit_code"] == 1
    assert any("listening on :8080 (linux/arm)" in line for line in arm["logs"])  # the app's last log lines
    assert tools.tags(a) == set() and tools.tags(b) == set()  # pushed by digest only; no tag on either registry


def test_without_the_environment_value_the_smoke_test_fails(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    """The same compose file with app.env saying APP_MODE=starting: the environment is really applied."""
    source = copy_fixture(tmp_path)
    (source / "app.env").write_text("APP_MODE=starting\n")
    a = f"{stack.registry_a}/{repo_name}"
    proc = publish("--tag", "v1.0.0", "--platform", "linux/amd64", "--image", a, source=source, stack=stack, out=tmp_path / "out")
    report = report_of(proc)
    assert proc.returncode == 3, report
    assert "smoke test failed on linux/amd64" in report["error"] and "APP_MODE is not ready" in report["error"]
    assert tools.tags(a) == set()


@pytest.mark.parametrize(
    ("change", "args", "named"),
    [
        ({"compose.yaml": "services:\n  app:\n    build: .\n   healthcheck: {}\n"}, (), "line 4"),
        ({}, ("--smoke-service", "nosuch"), "services.nosuch: no such service (the file has app, deps)"),
        ({"compose.yaml": "services:\n  app:\n    build: .\n    privileged: true\n"}, (), "services.app.privileged: is not supported"),
        ({"other.yaml": "services: {web: {image: x}}\n"}, ("--smoke-compose", "other.yaml"), "services: no service builds Dockerfile"),
    ],
)
def test_a_bad_compose_file_exits_2_naming_file_and_key_before_any_build(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path, change: dict[str, str], args: tuple[str, ...], named: str
) -> None:
    source = copy_fixture(tmp_path)
    for name, text in change.items():
        (source / name).write_text(text)
    a = f"{stack.registry_a}/{repo_name}"
    started = time.monotonic()
    out = tmp_path / "out"
    proc = publish("--tag", "v1.0.0", "--platform", ",".join(PLATFORMS), "--image", a, *args, source=source, stack=stack, out=out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    file = args[1] if args[:1] == ("--smoke-compose",) else "compose.yaml"
    assert f"--smoke-compose '{file}': {named}" in proc.stderr, proc.stderr
    assert not (out / "engine.log").exists() or "go build" not in (out / "engine.log").read_text()
    assert time.monotonic() - started < 60  # nothing was built (a cold three-platform build takes minutes)
    assert tools.tags(a) == set()


def test_a_dependency_that_never_becomes_healthy_fails_naming_it(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    source = copy_fixture(tmp_path)
    compose = (source / "compose.yaml").read_text()
    failing = compose.replace(
        """test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8000/')"]""",
        """test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8001/')"]""",
    ).replace("retries: 10", "retries: 2")
    assert failing != compose
    (source / "compose.yaml").write_text(failing)
    a = f"{stack.registry_a}/{repo_name}"
    proc = publish("--tag", "v1.0.0", "--platform", "linux/amd64", "--image", a, source=source, stack=stack, out=tmp_path / "out")
    report = report_of(proc)
    assert proc.returncode == 3, report
    assert "smoke test failed on linux/amd64" in report["error"]
    assert "the service it depends on, deps, did not become ready: deps: CMD python3 -c" in report["error"]
    assert "unhealthy after 2 check(s)" in report["error"] and "Connection refused" in report["error"]  # its own check's output
    assert tools.tags(a) == set()
