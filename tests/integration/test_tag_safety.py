"""Tags move all or nothing: faults injected by a proxy in front of the stack's registries, two
releases racing, a failed ``latest`` write, an interrupt, a re-published version. Every result is
read back from the registries with crane, and each report is checked against what they hold.

Registry C (distribution v3) deletes a tag alone, so a failed release's undo removes the tags it
created there; A and B (distribution 2.8) cannot (see docs/tag-safety.md).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Stack
from tests.integration.faults import FaultyProxy, Rule
from tests.integration.test_publish import FIXTURE, SHA, report_of, subprocess_env
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

OTHER_SHA = "1f0c2a9e5b7d4c3b2a1f0e9d8c7b6a5f4e3d2c1b"
WAIT = 900  # seconds a release may take to reach its tags (a cold engine builds the fixture first)


def command(version: str, targets: list[str], out: Path, *extra: str, sha: str = SHA, epoch: str = "1700000000") -> list[str]:
    """``shipyard publish`` of the fixture, one platform, no SBOM/scan/provenance: these tests are about tags."""
    args = [sys.executable, "-m", "shipyard", "publish", "--tag", version, "--source", str(FIXTURE), "--sha", sha]
    args += ["--out", str(out), "--source-date-epoch", epoch, "--platform", "linux/amd64", "--no-sbom", "--no-scan", "--no-provenance"]
    for target in targets:
        args += ["--image", target]
    return [*args, *extra, "--json"]


def publish(
    stack: Stack, version: str, targets: list[str], out: Path, *extra: str, sha: str = SHA, epoch: str = "1700000000"
) -> subprocess.CompletedProcess[str]:
    args = command(version, targets, out, *extra, *_build_args(stack), sha=sha, epoch=epoch)
    return subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), check=False, timeout=WAIT)


def start(stack: Stack, version: str, targets: list[str], out: Path, *extra: str, sha: str = SHA) -> subprocess.Popen[str]:
    args = command(version, targets, out, *extra, *_build_args(stack), sha=sha)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())


def finish(proc: subprocess.Popen[str], timeout: float = WAIT) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, report_of(subprocess.CompletedProcess(proc.args, proc.returncode, out, err)), err


def _build_args(stack: Stack) -> list[str]:
    return ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]


def snapshot(tools: Tools, repo: str) -> dict[str, str]:
    """Every tag of ``repo`` and the digest it names, read with crane."""
    return {tag: tools.digest(f"{repo}:{tag}") for tag in sorted(tools.tags(repo))}


def target(report: dict[str, Any], repository: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in report["targets"] if t["repository"] == repository)
    return found


def assert_report_matches(tools: Tools, report: dict[str, Any], repository: str, actual_repo: str) -> None:
    """The report's per-tag ``after`` is what the registry holds (read independently)."""
    held = snapshot(tools, actual_repo)
    changes = target(report, repository)["tag_changes"]
    assert changes, report
    for change in changes:
        assert change["after"] == held.get(change["tag"]), (change, held)


@pytest.fixture(scope="module")
def base_release(stack: Stack, tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """v1.0.0 published once to registry C; tests copy it into fresh repositories (``seed``)."""
    repo = f"{stack.registry_c}/it/base-{int(time.time())}"
    proc = publish(stack, "v1.0.0", [repo], tmp_path_factory.mktemp("base"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return snapshot(tools, repo) | {"repository": repo}


def seed(tools: Tools, base: dict[str, str], repo: str) -> dict[str, str]:
    """A repository holding the base release (1.0.0, 1.0, 1, latest, sha-…) as a release would leave it."""
    tools.run("crane", "copy", "--insecure", f"{base['repository']}:1.0.0", f"{repo}:1.0.0")
    for tag in base:
        if tag not in ("repository", "1.0.0"):
            tools.run("crane", "tag", "--insecure", f"{repo}:1.0.0", tag)
    return snapshot(tools, repo)


# --- retries ----------------------------------------------------------------------------------

KINDS = {  # kind of request -> (method, path)
    "blob upload": ("PUT", r"/blobs/uploads/"),
    "manifest PUT": ("PUT", r"/manifests/sha256:"),
    "tag PUT": ("PUT", r"/manifests/(?!sha256:)[^/]+$"),
    "HEAD": ("HEAD", r"/(blobs|manifests)/"),
}


def test_one_500_one_timeout_and_one_dropped_connection_on_each_kind_of_request_are_retried(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    with FaultyProxy(stack.registry_a) as proxy:
        rules: dict[tuple[str, str], Rule] = {}
        for kind, (method, path) in KINDS.items():
            rules[kind, "500"] = proxy.fault(method, path, "status", status=500)
            # a write that lands but is never answered (its outcome unknown to the client); a read that never answers
            rules[kind, "timeout"] = proxy.fault(method, path, "late" if method == "PUT" else "timeout", seconds=4)
            rules[kind, "drop"] = proxy.fault(method, path, "drop")
        repo = f"{proxy.address}/{repo_name}"
        proc = publish(stack, "v2.1.0", [repo], tmp_path, "--registry-timeout", "2")
    report = report_of(proc)
    assert proc.returncode == 0, (report["error"], proc.stderr[-2000:])
    assert {key: rule.hits for key, rule in rules.items()} == dict.fromkeys(rules, 1)  # every fault was met once
    held = snapshot(tools, f"{stack.registry_a}/{repo_name}")
    assert set(held) == {"2.1.0", "2.1", "2", "sha-860c190", "latest"}
    assert set(held.values()) == {report["digest"]}
    assert_report_matches(tools, report, repo, f"{stack.registry_a}/{repo_name}")


def test_a_registry_slower_than_the_timeout_is_named_with_the_option_to_raise(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    with FaultyProxy(stack.registry_a) as proxy:
        proxy.fault("PUT", r"/manifests/(?!sha256:)", "timeout", seconds=3, times=None)  # every tag write hangs
        repo = f"{proxy.address}/{repo_name}"
        proc = publish(stack, "v2.2.0", [repo], tmp_path, "--registry-timeout", "1")
    report = report_of(proc)
    assert proc.returncode == 3
    assert "timed out" in report["error"] and "--registry-timeout" in report["error"] and "is it reachable" not in report["error"]
    assert tools.tags(f"{stack.registry_a}/{repo_name}") == set()  # 2.8 cannot delete a tag: none was ever written here


# --- races ------------------------------------------------------------------------------------

ORDERS = (
    "1.2.4 decides before 1.3.0's tags exist, its writes land after 1.3.0 finished",
    "1.2.4 finishes before 1.3.0 writes any tag",
    "1.3.0's floating writes wait while 1.2.4 writes all its tags",
)


@pytest.mark.parametrize("order", range(len(ORDERS)), ids=["stale-write-lands-last", "sequential", "newer-floating-waits"])
def test_two_releases_racing_end_with_the_higher_on_1_and_latest_everywhere(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path, order: int
) -> None:
    registries = (stack.registry_a, stack.registry_c)
    with contextlib.ExitStack() as proxies:
        old = [proxies.enter_context(FaultyProxy(r)) for r in registries]  # 1.2.4's way in
        new = [proxies.enter_context(FaultyProxy(r)) for r in registries]  # 1.3.0's
        if order == 0:
            gate_new = [p.fault("PUT", r"/manifests/1\.3\.0$", "hold") for p in new]
            gate_old = [p.fault("PUT", r"/manifests/1\.2$", "hold") for p in old]
        elif order == 1:
            gate_new = [p.fault("PUT", r"/manifests/1\.3\.0$", "hold") for p in new]
        else:
            gate_new = [p.fault("PUT", r"/manifests/1\.3$", "hold") for p in new]
            gate_old = [p.fault("PUT", r"/manifests/1\.2\.4$", "hold") for p in old]
        older = start(stack, "v1.2.4", [f"{p.address}/{repo_name}" for p in old], tmp_path / "old", sha=OTHER_SHA)
        newer = start(stack, "v1.3.0", [f"{p.address}/{repo_name}" for p in new], tmp_path / "new")
        if order == 0:
            _wait(gate_old)
            _release(gate_new)
            code_new, report_new, _ = finish(newer)
            _release(gate_old)
            code_old, report_old, _ = finish(older)
            last = (report_old, old)
        else:
            if order == 2:  # 1.2.4 starts its tags once 1.3.0's version tag is in place, 1.3.0's floating ones wait
                _wait(gate_new + gate_old)
                _release(gate_old)
            code_old, report_old, _ = finish(older)
            _release(gate_new)
            code_new, report_new, _ = finish(newer)
            last = (report_new, new)
    assert code_old == 0 and code_new == 0, (report_old["error"], report_new["error"])
    v124, v130 = report_old["digest"], report_new["digest"]
    for registry in registries:
        held = snapshot(tools, f"{registry}/{repo_name}")
        assert held["1"] == held["latest"] == held["1.3"] == held["1.3.0"] == v130, (registry, held)
        assert held["1.2"] == held["1.2.4"] == v124
    report, proxies_used = last
    for proxy, registry in zip(proxies_used, registries, strict=True):
        assert_report_matches(tools, report, f"{proxy.address}/{repo_name}", f"{registry}/{repo_name}")
    for proxy in old:  # 1.2.4's own account: 1 and latest held back, naming what they name
        held_back = {h["tag"]: h["reason"] for h in target(report_old, f"{proxy.address}/{repo_name}")["tags_held_back"]}
        if order != 1:
            assert set(held_back) == {"1", "latest"} and all(v130 in reason and "1.3.0" in reason for reason in held_back.values())


def _wait(rules: list[Rule]) -> None:
    for rule in rules:
        assert rule.arrived.wait(WAIT), "a release never reached the tag write the test holds"


def _release(rules: list[Rule]) -> None:
    for rule in rules:
        rule.release()


# --- all or nothing ---------------------------------------------------------------------------


@pytest.mark.parametrize("history", ["fresh", "earlier-release"])
def test_a_500_on_latest_of_a_required_target_leaves_every_registry_as_it_was(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path, base_release: dict[str, str], history: str
) -> None:
    first, second = f"{stack.registry_c}/{repo_name}", f"{stack.registry_c}/{repo_name}-b"
    if history == "earlier-release":
        seed(tools, base_release, first)
        seed(tools, base_release, second)
    before = {repo: snapshot(tools, repo) for repo in (first, second)}
    with FaultyProxy(stack.registry_c) as proxy:
        failing = proxy.fault("PUT", r"/manifests/latest$", "status", status=500, times=None)
        through = f"{proxy.address}/{repo_name}"
        proc = publish(stack, "v1.1.0", [through, second], tmp_path)
    report = report_of(proc)
    assert proc.returncode == 3 and failing.hits > 1, report["error"]
    assert {repo: snapshot(tools, repo) for repo in (first, second)} == before
    for repository, actual in ((through, first), (second, second)):
        changes = {c["tag"]: c for c in target(report, repository)["tag_changes"]}
        assert set(changes) == {"1.1.0", "1.1", "1", "sha-860c190", "latest"}
        for tag, change in changes.items():
            assert change["before"] == change["after"] == before[actual].get(tag), change
            assert change["outcome"] in {"restored", "deleted", "kept"}, change
        assert_report_matches(tools, report, repository, actual)
    assert "put back" in report["error"]


def test_the_same_failure_on_an_optional_target_is_reported_and_the_release_goes_on(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    required, optional = f"{stack.registry_c}/{repo_name}", f"{stack.registry_c}/{repo_name}-optional"
    with FaultyProxy(stack.registry_c) as proxy:
        proxy.fault("PUT", r"/manifests/latest$", "status", status=500, times=None)
        through = f"{proxy.address}/{repo_name}-optional"
        proc = publish(stack, "v1.1.0", [required, f"{through},optional"], tmp_path)
    report = report_of(proc)
    assert proc.returncode == 0 and report["ok"], report
    held = snapshot(tools, required)
    assert set(held) == {"1.1.0", "1.1", "1", "sha-860c190", "latest"} and set(held.values()) == {report["digest"]}
    failed = target(report, through)
    assert failed["status"] == "failed" and failed["optional"] and "latest" in failed["error"]
    assert tools.tags(optional) == set()  # undone there too (C deletes the tags it created)
    assert_report_matches(tools, report, through, optional)


# --- interrupts -------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_a_tag_write_hangs_exits_130_or_143_with_every_registry_as_before(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path, base_release: dict[str, str], signum: int
) -> None:
    first, second = f"{stack.registry_c}/{repo_name}", f"{stack.registry_c}/{repo_name}-b"
    before = {repo: seed(tools, base_release, repo) for repo in (first, second)}
    with FaultyProxy(stack.registry_c) as proxy:
        hang = proxy.fault("PUT", r"/manifests/latest$", "hold")  # never released: the write hangs
        through = f"{proxy.address}/{repo_name}"
        proc = start(stack, "v1.1.0", [through, second], tmp_path)
        with _killed_on_failure(proc):
            _wait([hang])
            interrupted = time.monotonic()
            proc.send_signal(signum)
            code, report, err = finish(proc, timeout=30)
            took = time.monotonic() - interrupted
    assert code == 128 + signum and took < 30, (code, took, err[-2000:])
    assert {repo: snapshot(tools, repo) for repo in (first, second)} == before
    assert "interrupted" in report["error"] and report["exit_code"] == 128 + signum
    for repository, actual in ((through, first), (second, second)):
        assert_report_matches(tools, report, repository, actual)
    assert "putting back" in err


def test_a_second_signal_during_the_undo_exits_at_once_naming_what_may_be_half_moved(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    with FaultyProxy(stack.registry_c) as proxy:
        hang = proxy.fault("PUT", r"/manifests/latest$", "hold")
        undo = proxy.fault("DELETE", r"/manifests/", "hold")  # the undo hangs too
        proc = start(stack, "v1.1.0", [f"{proxy.address}/{repo_name}"], tmp_path)
        with _killed_on_failure(proc):
            _wait([hang])
            proc.send_signal(signal.SIGINT)
            _wait([undo])
            second = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
            took = time.monotonic() - second
    assert proc.returncode == 130 and took < 5, (proc.returncode, took, err[-2000:])
    assert "aborted by a second SIGINT" in err and "may be half-moved" in err
    assert f"{proxy.address}/{repo_name}:1.1.0 (was absent)" in err


@contextlib.contextmanager
def _killed_on_failure(proc: subprocess.Popen[str]) -> Iterator[None]:
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- immutable release tags -------------------------------------------------------------------


def test_republishing_a_version_with_other_content_is_refused_unless_allowed(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    repo = f"{stack.registry_c}/{repo_name}"
    first = report_of(publish(stack, "v3.0.0", [repo], tmp_path / "1"))
    assert first["ok"], first
    same = report_of(publish(stack, "v3.0.0", [repo], tmp_path / "2"))  # the same content: a no-op
    assert same["ok"] and {c["outcome"] for c in target(same, repo)["tag_changes"]} == {"kept"}

    other = publish(stack, "v3.0.0", [repo], tmp_path / "3", epoch="1700000001")
    assert other.returncode == 2, other.stdout[-1000:] + other.stderr[-2000:]
    errors = [line for line in other.stderr.splitlines() if line.startswith("shipyard: ")]  # the progress lines aside
    assert "Traceback" not in other.stderr and len(errors) == 1, other.stderr
    message = errors[0]
    digests = re.findall(r"sha256:[0-9a-f]{64}", message)
    assert "3.0.0" in message and "--allow-overwrite" in message and first["digest"] in digests
    new_digest = next(d for d in digests if d != first["digest"])
    assert tools.digest(f"{repo}:3.0.0") == first["digest"]
    assert not tools.exists(f"{repo}@{new_digest}")  # nothing was pushed

    moved = report_of(publish(stack, "v3.0.0", [repo], tmp_path / "4", "--allow-overwrite", epoch="1700000001"))
    assert moved["ok"] and moved["digest"] == new_digest
    assert tools.digest(f"{repo}:3.0.0") == new_digest
    change = next(c for c in target(moved, repo)["tag_changes"] if c["tag"] == "3.0.0")
    assert change == {"tag": "3.0.0", "before": first["digest"], "after": new_digest, "outcome": "moved"}
    assert any(first["digest"] in n and "3.0.0" in n for n in moved["notices"])


def test_a_foreign_latest_is_overwritten_with_a_notice(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path, base_release: dict[str, str]
) -> None:
    repo = f"{stack.registry_c}/{repo_name}"
    # another tool's latest: an image no version tag of this repository names
    tools.run("crane", "copy", "--insecure", f"{base_release['repository']}:1.0.0", f"{repo}:latest")
    foreign = tools.digest(f"{repo}:latest")
    report = report_of(publish(stack, "v4.0.0", [repo], tmp_path))
    assert report["ok"], report
    assert tools.digest(f"{repo}:latest") == report["digest"]
    assert any(foreign in n and "latest" in n and "another tool" in n for n in report["notices"]), report["notices"]
    assert json.dumps(report).count(foreign) >= 2  # the notice and the tag's "before"
