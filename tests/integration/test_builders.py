"""``--builder``: a release split across two engines on this machine, read back with crane.

The second engine comes from ``ci/stack builder up``: its own ``--root``, ``--addr`` (a socket,
and loopback TCP), ``--network-name`` and ``--network-cidr``; it stands in for a native arm64
machine. Both engines
also bind the default sockets, so the clients here use each engine's own ``--addr`` only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.release.dockerfile import BASE_DOCKERFILE
from tests.integration.conftest import ROOT, Stack
from tests.integration.test_publish import report_of, subprocess_env
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "app"
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
SLEEP = 311  # seconds the killed build would sleep; also how the test finds it among the processes


@pytest.fixture(scope="module")
def builder_stack() -> Iterator[None]:
    yield
    subprocess.run(["bash", str(ROOT / "ci" / "stack"), "builder", "down"], check=False, capture_output=True)


@pytest.fixture
def builder(builder_stack: None) -> dict[str, str]:
    """The second engine, started (or found running): its address and pid file."""
    stack = ["bash", str(ROOT / "ci" / "stack"), "builder"]
    up = subprocess.run([*stack, "up"], capture_output=True, text=True, check=False)
    assert up.returncode == 0, up.stderr
    env: dict[str, str] = json.loads(subprocess.run([*stack, "env", "--json"], capture_output=True, text=True, check=True).stdout)
    return env


def app_source(tmp_path: Path, dockerfile_tail: str = "") -> Path:
    """The fixture app with a fresh ``main.go`` comment (so both engines really build it; the
    binary is the same) and, optionally, more Dockerfile lines."""
    source = tmp_path / "app"
    shutil.copytree(FIXTURE, source)
    with (source / "main.go").open("a") as main:
        main.write(f"\n// build {uuid.uuid4().hex}\n")
    if dockerfile_tail:
        with (source / "Dockerfile").open("a") as dockerfile:
            dockerfile.write(dockerfile_tail)
    return source


def publish(stack: Stack, source: Path, out: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "shipyard", "publish", "--source", str(source), "--sha", SHA, "--out", str(out)]
    command += ["--source-date-epoch", "1700000000", "--json", "--no-sbom", "--no-provenance", "--no-scan"]
    command += ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]
    return subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())


def finished(proc: subprocess.Popen[str], timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def built_platforms(log: Path) -> set[str]:
    """The platforms a Dagger session's progress log shows a ``dockerBuild`` of the release's
    Dockerfile for. The default session also builds each platform's base image alone (the
    Dockerfile cut after its ``FROM``, ``steps/base.py``: a pull, no ``RUN``) to know which
    layers to keep byte for byte; those builds name ``BASE_DOCKERFILE`` and are not counted."""
    calls = re.findall(r'dockerBuild\((?:(?!dockerBuild\().)*?platform: "[^"]+"', _plain(log), re.S)
    return {re.findall(r'platform: "([^"]+)"', c)[-1] for c in calls if BASE_DOCKERFILE not in c}


def ran_go_build_for(log: Path) -> set[str]:
    """The architectures a session's log shows the fixture's ``go build`` step run (not cached) for."""
    return set(re.findall(r"RUN GOOS=linux GOARCH=(\w+) .*go build .* DONE \[", _plain(log)))


def _plain(log: Path) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", log.read_text(errors="replace"))


def test_a_release_split_across_two_engines_is_the_one_engine_release(
    stack: Stack, tools: Tools, builder: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    source = app_source(tmp_path)
    one, split = f"{stack.registry_a}/{repo_name}-one", f"{stack.registry_a}/{repo_name}-split"

    alone = finished(publish(stack, source, tmp_path / "one", "--tag", "v1.2.3", "--image", one))
    assert alone.returncode == 0, report_of(alone).get("error")
    apart = finished(
        publish(
            stack,
            source,
            tmp_path / "split",
            "--tag",
            "v1.2.3",
            "--image",
            split,
            "--builder",
            f"linux/arm64={builder['SHIPYARD_BUILDER_ENGINE']}",
        )
    )
    assert apart.returncode == 0, report_of(apart).get("error")

    # The same builder reached over TCP, as a remote engine would be (the build is cached there now).
    over_tcp = f"{stack.registry_a}/{repo_name}-tcp"
    tcp = finished(
        publish(
            stack,
            source,
            tmp_path / "tcp",
            "--tag",
            "v1.2.3",
            "--image",
            over_tcp,
            "--builder",
            f"linux/arm64={builder['SHIPYARD_BUILDER_ENGINE_TCP']}",
        )
    )
    assert tcp.returncode == 0, report_of(tcp).get("error")

    # The same index, read back from the registry; every tag of both names it.
    digest = tools.digest(f"{one}:1.2.3")
    assert tools.digest(f"{split}:1.2.3") == tools.digest(f"{over_tcp}:1.2.3") == digest
    assert tools.tags(split) == tools.tags(one) == {"1.2.3", "1.2", "1", "latest", "sha-860c190"}
    assert {tools.digest(f"{split}:{t}") for t in tools.tags(split)} == {digest}
    index = tools.manifest(f"{split}@{digest}")
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    # The arm64 image was built by the builder's session, and the default session built amd64 only.
    assert built_platforms(tmp_path / "split" / "builder-linux-arm64.log") == {"linux/arm64"}
    assert built_platforms(tmp_path / "split" / "engine.log") == {"linux/amd64"}
    assert built_platforms(tmp_path / "one" / "engine.log") == {"linux/amd64", "linux/arm64"}
    assert ran_go_build_for(tmp_path / "split" / "builder-linux-arm64.log") == {"arm64"}  # built there, not a cache hit
    report: dict[str, Any] = report_of(apart)
    assert {p["platform"]: p["engine"] for p in report["platforms"]} == {
        "linux/amd64": "default",
        "linux/arm64": builder["SHIPYARD_BUILDER_ENGINE"],
    }


def test_a_step_failing_on_a_builder_names_the_platform_the_builder_and_its_output(
    stack: Stack, tools: Tools, builder: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    repo = f"{stack.registry_a}/{repo_name}"
    failing = app_source(tmp_path, 'ARG TARGETARCH\nRUN [ "$TARGETARCH" != arm64 ] || (echo "no arm64 toolchain here" >&2; exit 7)\n')
    address = builder["SHIPYARD_BUILDER_ENGINE"]
    result = finished(publish(stack, failing, tmp_path / "out", "--tag", "v1.2.3", "--image", repo, "--builder", f"linux/arm64={address}"))

    assert result.returncode == 3
    error = report_of(result)["error"]
    assert error.startswith(f"build for linux/arm64 on builder {address} failed:"), error
    assert "no arm64 toolchain here" in error and "exit code: 7" in error
    assert tools.tags(repo) == set()  # nothing pushed


def test_a_builder_killed_mid_build_fails_the_release_naming_it_and_moves_no_tag(
    stack: Stack, tools: Tools, builder: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    repo = f"{stack.registry_a}/{repo_name}"
    first = finished(publish(stack, app_source(tmp_path / "first"), tmp_path / "first-out", "--tag", "v1.2.3", "--image", repo))
    assert first.returncode == 0, report_of(first).get("error")
    before = {tag: tools.digest(f"{repo}:{tag}") for tag in tools.tags(repo)}
    assert set(before) == {"1.2.3", "1.2", "1", "latest", "sha-860c190"}

    # v1.3.0's arm64 build (on the builder) sleeps; the builder engine is killed meanwhile.
    slow = app_source(tmp_path / "second", f'ARG TARGETARCH\nRUN [ "$TARGETARCH" != arm64 ] || sleep {SLEEP}\n')
    address = builder["SHIPYARD_BUILDER_ENGINE"]
    proc = publish(stack, slow, tmp_path / "second-out", "--tag", "v1.3.0", "--image", repo, "--builder", f"linux/arm64={address}")
    deadline = time.monotonic() + 600
    while not _running(f"sleep {SLEEP}"):
        assert proc.poll() is None, f"publish ended before the builder's build step ran:\n{proc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, "the builder's build step never started"
        time.sleep(0.5)
    os.kill(int(Path(builder["SHIPYARD_BUILDER_PIDFILE"]).read_text()), signal.SIGKILL)
    killed = time.monotonic()
    result = finished(proc, timeout=300)

    assert result.returncode == 3, result.stderr[-3000:]
    report = report_of(result)
    assert report["error"].startswith(f"builder {address} (linux/arm64) failed:"), report["error"]
    assert "no tag was moved on any registry" in report["error"]
    assert time.monotonic() - killed < 120  # it fails, it does not hang
    # Read back: every tag is where it was, and v1.3.0 was not pushed.
    assert {tag: tools.digest(f"{repo}:{tag}") for tag in tools.tags(repo)} == before
    assert not (tmp_path / "second-out" / "release-notes.md").exists()


def _running(command: str) -> bool:
    return subprocess.run(["pgrep", "-f", command], capture_output=True, check=False).returncode == 0


def test_a_builder_address_with_no_engine_fails_at_once_naming_it(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    repo = f"{stack.registry_a}/{repo_name}"
    address = f"unix://{tmp_path}/no-engine.sock"
    started = time.monotonic()
    result = finished(publish(stack, FIXTURE, tmp_path / "out", "--tag", "v1.2.3", "--image", repo, "--builder", f"linux/arm64={address}"))

    assert result.returncode == 3
    error = report_of(result)["error"]
    assert error.startswith(f"builder {address} (linux/arm64) failed: no engine at {address}"), error
    assert time.monotonic() - started < 60 and tools.tags(repo) == set()
