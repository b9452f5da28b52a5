"""The build cache (``--cache-from``/``--cache-to``) and digests that do not depend on it.

"A new CI runner" is the stack's third engine (``ci/stack runner up|reset``: its own state,
socket and network), wiped here at will; the shared engine and the builder are never wiped.
Results are read back with crane and the registry's HTTP API; the engine's progress log says
which steps ran and which came from the cache.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, Stack
from tests.integration.faults import FaultyProxy
from tests.integration.test_publish import report_of, subprocess_env
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "cache-app"
EMULATED = ("linux/arm64", "linux/arm/v7")
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
STACK = ["bash", str(ROOT / "ci" / "stack")]


@pytest.fixture(scope="module")
def runner() -> Iterator[dict[str, str]]:
    """The runner engine, started (or found running); stopped when the module is done."""
    up = subprocess.run([*STACK, "runner", "up"], capture_output=True, text=True, check=False)
    assert up.returncode == 0, up.stderr
    env: dict[str, str] = json.loads(subprocess.run([*STACK, "runner", "env", "--json"], capture_output=True, text=True, check=True).stdout)
    yield env
    subprocess.run([*STACK, "runner", "down"], capture_output=True, check=False)


def wipe(runner: dict[str, str]) -> None:
    """A new runner: the runner engine's state wiped (``ci/stack runner reset``)."""
    marker = Path(runner["SHIPYARD_RUNNER_STATE"]) / "shipyard-test-marker"
    marker.write_text("the state before the wipe\n")
    proc = subprocess.run([*STACK, "runner", "reset"], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()  # the state directory was removed, not only the engine restarted


def on_runner(runner: dict[str, str], *args: str, timeout: float = 1500) -> tuple[subprocess.CompletedProcess[str], float]:
    """``shipyard ARGS`` against the runner engine; also how long it took."""
    env = {**subprocess_env(), "_EXPERIMENTAL_DAGGER_RUNNER_HOST": runner["SHIPYARD_RUNNER_ENGINE"]}
    env = {k: v for k, v in env.items() if not k.startswith("_EXPERIMENTAL_DAGGER_CACHE") and k != "SOURCE_DATE_EPOCH"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, env=env, check=False, timeout=timeout)
    return proc, time.monotonic() - started


def publish_args(stack: Stack, source: Path, out: Path, tag: str, target: str, platforms: tuple[str, ...], *extra: str) -> list[str]:
    args = ["publish", "--tag", tag, "--source", str(source), "--image", target, "--platform", ",".join(platforms)]
    args += ["--out", str(out), "--json", "--no-sbom", "--no-provenance", "--no-scan"]
    return [*args, "--build-arg", f"BASE_IMAGE={stack.images['base']}", *extra]


def fixture_copy(tmp_path: Path, name: str = "app") -> Path:
    source = tmp_path / name
    shutil.copytree(FIXTURE, source)
    return source


def plain(log: Path) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", log.read_text(errors="replace"))


def step_lines(log: Path, step: str) -> list[str]:
    """The progress lines that end a Dockerfile step (``DONE``, ``CACHED`` or ``ERROR``)."""
    return [line for line in plain(log).splitlines() if step in line and re.search(r"\b(DONE|CACHED|ERROR)\b", line)]


def ran(log: Path, step: str) -> bool:
    return any(re.search(r"\bDONE\b", line) and "CACHED" not in line for line in step_lines(log, step))


def cached(log: Path, step: str) -> bool:
    return any("CACHED" in line for line in step_lines(log, step))


def test_a_new_runner_imports_the_cache_and_rebuilds_only_what_changed(
    stack: Stack, tools: Tools, runner: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    cache = f"{stack.registry_a}/{repo_name}-cache:buildcache"
    source = fixture_copy(tmp_path)
    expensive = "RUN uname -m > /machine && head -c"

    # Release 1 on an empty engine, exporting its cache.
    wipe(runner)
    # As CI runs every release: import (nothing there yet) and export.
    both = ("--cache-from", cache, "--cache-to", f"type=registry,ref={cache},mode=max")
    first, first_s = on_runner(runner, *publish_args(stack, source, tmp_path / "1", "v1.0.0", a, EMULATED, *both))
    report1 = report_of(first)
    assert first.returncode == 0 and report1["ok"], report1
    assert ran(tmp_path / "1" / "engine.log", expensive)
    export = report1["cache"]["exports"]
    assert [(e["ref"], e["status"]) for e in export] == [(cache, "exported")], report1["cache"]
    assert tools.digest(cache) == export[0]["after"]  # crane reads the cache manifest Shipyard reported
    cold_s = first_s - report1["timings"]["cache_export"]  # what the release costs without exporting a cache
    assert report1["timings"]["cache_export"] > 0

    # Release 2 of the same source on a new runner, importing the cache: the expensive steps come from it.
    wipe(runner)
    second, second_s = on_runner(runner, *publish_args(stack, source, tmp_path / "2", "v1.0.0", a + "-2", EMULATED, "--cache-from", cache))
    report2 = report_of(second)
    assert second.returncode == 0 and report2["ok"], report2
    # Every step is in the cache: the engine loads the last one (CACHED) and never needs the expensive one.
    log2 = tmp_path / "2" / "engine.log"
    assert cached(log2, "COPY message.txt /message.txt") and not ran(log2, expensive) and not ran(log2, "COPY message.txt")
    assert report2["digest"] == report1["digest"] == tools.digest(f"{a}-2:1.0.0")
    assert second_s < cold_s / 2, f"release from the cache took {second_s:.1f}s, a cold one {cold_s:.1f}s"
    assert report2["cache"]["door"] == "cli" and report2["cache"]["exports"] == []

    # A change in the last layer, on another new runner: only that layer is built again.
    (source / "message.txt").write_text("a new message\n")
    wipe(runner)
    third, _ = on_runner(runner, *publish_args(stack, source, tmp_path / "3", "v1.0.1", a, EMULATED, "--cache-from", cache))
    report3 = report_of(third)
    assert third.returncode == 0 and report3["ok"], report3
    log = tmp_path / "3" / "engine.log"
    assert cached(log, expensive) and not ran(log, expensive)
    assert ran(log, "COPY message.txt /message.txt")
    before = tools.manifest(f"{a}:1.0.0@{report1['platforms'][0]['digest']}")["layers"]
    after = tools.manifest(f"{a}:1.0.1@{report3['platforms'][0]['digest']}")["layers"]
    assert [layer["digest"] for layer in before[:-1]] == [layer["digest"] for layer in after[:-1]]  # every layer but the last
    assert before[-1]["digest"] != after[-1]["digest"]
    print(f"\ncache figures: cold {cold_s:.1f}s (+ export {report1['timings']['cache_export']:.1f}s), from cache {second_s:.1f}s")


def _git(checkout: Path, *args: str, when: int | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    if when is not None:
        env |= {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
    return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, env=env, check=True).stdout.strip()


def rebuild_check(
    stack: Stack, runner: dict[str, str], source: Path, against: str, platforms: tuple[str, ...], *extra: str
) -> dict[str, Any]:
    args = ["rebuild-check", "--tag", "v2.0.0", "--image", against, "--source", str(source), "--platform", ",".join(platforms)]
    proc, _ = on_runner(runner, *args, "--build-arg", f"BASE_IMAGE={stack.images['base']}", "--build-arg", "WORK_MB=8", *extra, "--json")
    data: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {"stderr": proc.stderr}
    data["exit"] = proc.returncode
    return data


def test_a_release_whose_steps_were_cached_for_an_earlier_commit_rebuilds_to_the_same_digest(
    stack: Stack, tools: Tools, runner: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    """Commit 2 has a later commit time and the same build inputs: its build steps come from the
    engine's cache made for commit 1, with files older than commit 2's SOURCE_DATE_EPOCH (which
    clamping alone left as they were), yet a cold rebuild, and a rebuild from the imported cache,
    give the published digest."""
    a = f"{stack.registry_a}/{repo_name}"
    cache = f"{stack.registry_a}/{repo_name}-cache:buildcache"
    platforms = ("linux/amd64", "linux/arm64")
    checkout = fixture_copy(tmp_path, "repo")
    _git(checkout, "init", "-q")
    _git(checkout, "add", ".")
    _git(checkout, "commit", "-qm", "one", when=int(time.time()) - 60)
    wipe(runner)
    args = ("--build-arg", "WORK_MB=8", "--cache-to", cache)
    one, _ = on_runner(runner, *publish_args(stack, checkout, tmp_path / "1", "v1.0.0", a, platforms, *args))
    assert report_of(one)["ok"], one.stdout + one.stderr
    time.sleep(2)  # commit 2 is later than commit 1's build steps ran
    (checkout / "NOTES.md").write_text("not copied into the image\n")
    _git(checkout, "add", ".")
    commit2 = int(time.time())
    _git(checkout, "commit", "-qm", "two", when=commit2)
    two, _ = on_runner(runner, *publish_args(stack, checkout, tmp_path / "2", "v2.0.0", a, platforms, *args))
    report2 = report_of(two)
    assert report2["ok"], report2
    log = tmp_path / "2" / "engine.log"
    assert cached(log, "COPY message.txt") and not ran(log, "RUN uname -m") and not ran(log, "COPY message.txt")  # built for commit 1
    config = json.loads(tools.run("crane", "config", f"{a}:2.0.0", "--platform", "linux/arm64").stdout)
    assert config["created"] == datetime.fromtimestamp(commit2, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # commit 2's time
    run_layer = tools.manifest(f"{a}@{report2['platforms'][1]['digest']}")["layers"][-2]["digest"]  # before the COPY layer
    layer = tools.run_bytes("crane", "blob", f"{a}@{run_layer}")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:  # the RUN step's layer, built before commit 2
        assert {m.mtime for m in tar.getmembers()} == {commit2}

    wipe(runner)
    cold = rebuild_check(stack, runner, checkout, f"{a}:2.0.0", platforms)
    assert cold["exit"] == 0 and cold["ok"] and cold["rebuilt"] == report2["digest"], cold
    wipe(runner)
    from_cache = rebuild_check(stack, runner, checkout, f"{a}:2.0.0", platforms, "--cache-from", cache)
    assert from_cache["exit"] == 0 and from_cache["ok"] and from_cache["rebuilt"] == report2["digest"], from_cache
    assert from_cache["cache"]["from"] == [f"type=registry,ref={cache}"]


def test_rebuild_check_names_the_file_and_platform_of_a_non_deterministic_step(
    stack: Stack, runner: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    a = f"{stack.registry_a}/{repo_name}"
    platforms = ("linux/amd64", "linux/arm64")
    source = fixture_copy(tmp_path)
    extra = ("--dockerfile", "Dockerfile.nondeterministic", "--source-date-epoch", "1700000000")
    published, _ = on_runner(runner, *publish_args(stack, source, tmp_path / "out", "v2.0.0", a, platforms, *extra))
    assert report_of(published)["ok"], published.stdout + published.stderr
    wipe(runner)  # the RUN step runs again, at another time
    args = ["rebuild-check", "--tag", "v2.0.0", "--image", f"{a}:2.0.0", "--source", str(source), "--platform", ",".join(platforms)]
    args += ["--build-arg", f"BASE_IMAGE={stack.images['base']}", *extra]
    text, _ = on_runner(runner, *args)
    assert text.returncode == 3, text.stdout + text.stderr
    for platform in platforms:
        assert re.search(rf"^      {re.escape(platform)} /built-at: content [0-9a-f]{{12}} -> [0-9a-f]{{12}}$", text.stdout, re.M), (
            text.stdout
        )
    assert "/message.txt" not in text.stdout  # the same in both: not named
    assert "time" not in text.stdout.split("why it differs", 1)[1]  # every time is the release's own


def test_a_cache_registry_that_refuses_the_push_is_a_warning_not_a_failed_release(
    stack: Stack, tools: Tools, runner: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    """The cache registry answers reads but refuses every write (HTTP 403, as for a read-only token):
    the release is published and tagged, exit 0, and the report and stderr name the failed export."""
    a = f"{stack.registry_a}/{repo_name}"
    source = fixture_copy(tmp_path)
    with FaultyProxy(stack.registry_a) as proxy:
        writes = [proxy.fault(method, r"^/v2/", "status", times=None, status=403) for method in ("POST", "PUT", "PATCH")]
        refused = f"{proxy.address}/{repo_name}-cache:buildcache"
        args = publish_args(stack, source, tmp_path / "out", "v1.0.0", a, ("linux/amd64",), "--cache-from", refused, "--cache-to", refused)
        proc, _ = on_runner(runner, *args)
    report = report_of(proc)
    assert proc.returncode == 0 and report["ok"], report
    assert sum(rule.hits for rule in writes) > 0  # the engine did try to push the cache
    assert {"1.0.0", "1.0", "1", "latest"} <= tools.tags(a) and tools.digest(f"{a}:1.0.0") == report["digest"]
    (export,) = report["cache"]["exports"]
    assert export["status"] == "missing" and export["ref"] == refused
    assert report["cache"]["warnings"] == [export["message"]] and f"not exported: {refused} has no cache manifest" in export["message"]
    assert f"shipyard: warning: cache: WARNING: not exported: {refused}" in proc.stderr
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["cache"]["exports"][0]["status"] == "missing"
    assert not tools.exists(f"{stack.registry_a}/{repo_name}-cache:buildcache")


def _blobs(registry: str, repository: str, reference: str, auth: str) -> Iterator[tuple[str, bytes]]:
    """Every blob of a cache manifest (and of the manifests an index lists), read over HTTP."""
    accept = ", ".join(
        [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
    )

    def get(path: str, headers: dict[str, str]) -> bytes:
        request = urllib.request.Request(f"http://{registry}/v2/{repository}/{path}", headers={"Authorization": auth, **headers})
        with urllib.request.urlopen(request, timeout=60) as response:
            data: bytes = response.read()
        return data

    manifest = json.loads(get(f"manifests/{reference}", {"Accept": accept}))
    descriptors = [manifest.get("config", {}), *manifest.get("layers", []), *manifest.get("manifests", [])]
    for descriptor in descriptors:
        if not descriptor.get("digest"):
            continue
        data = get(f"blobs/{descriptor['digest']}", {})
        yield descriptor["digest"], gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_no_build_secret_value_reaches_the_exported_cache_and_another_secret_runs_the_step_again(
    stack: Stack, tools: Tools, runner: dict[str, str], repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    """The cache goes to registry B with credentials (the session's temporary Docker config), mode=max;
    every blob is read back over the registry API and searched for the secret. On a new runner the
    same secret finds the cache; another secret finds none, and the step runs with it."""
    a = f"{stack.registry_a}/{repo_name}"
    cache = f"{stack.registry_b}/{repo_name}-cache:buildcache"
    source = fixture_copy(tmp_path)

    def release(name: str, secret: str) -> tuple[dict[str, Any], Path]:
        extra = ("--dockerfile", "Dockerfile.secret", "--build-secret", "token=env:CACHE_TEST_TOKEN", "--registry-auth", b_auth,
                 "--cache-from", cache, "--cache-to", f"type=registry,ref={cache},mode=max")  # fmt: skip
        os.environ["CACHE_TEST_TOKEN"] = secret
        try:
            proc, _ = on_runner(runner, *publish_args(stack, source, tmp_path / name, "v1.0.0", f"{a}-{name}", ("linux/amd64",), *extra))
        finally:
            del os.environ["CACHE_TEST_TOKEN"]
        report = report_of(proc)
        assert proc.returncode == 0 and report["ok"], report
        logs = proc.stdout + proc.stderr + (tmp_path / name / "engine.log").read_text() + (tmp_path / name / "report.json").read_text()
        assert secret not in logs and stack.password_b not in logs
        return report, tmp_path / name / "engine.log"

    secret, other = f"s3cret-{uuid.uuid4().hex}", f"0ther-{uuid.uuid4().hex}"
    wipe(runner)
    first, _ = release("one", secret)
    (export,) = first["cache"]["exports"]
    assert export["status"] == "exported" and export["ref"].startswith(f"{cache}-s"), first["cache"]  # scoped to the secret
    auth = "Basic " + base64.b64encode(f"{stack.username_b}:{stack.password_b}".encode()).decode()
    registry, _, rest = export["ref"].partition("/")
    repository, _, tag = rest.partition(":")
    blobs = dict(_blobs(registry, repository, tag, auth))
    assert len(blobs) >= 3  # the cache config, the base layer and the step's layers
    assert not [d for d, data in blobs.items() if secret.encode() in data]
    assert any(b"token.sha256" in data for data in blobs.values())  # the step's layer is there, without the secret

    step = "RUN --mount=type=secret,id=token sha256sum"
    wipe(runner)
    again, log = release("two", secret)  # the same secret on a new runner: its cache
    assert not ran(log, step) and again["digest"] == first["digest"]
    wipe(runner)
    changed, log = release("three", other)  # another secret on a new runner: no cache, the step runs with it
    assert ran(log, step) and changed["digest"] != first["digest"]
    (export3,) = changed["cache"]["exports"]
    assert export3["ref"] != export["ref"] and export3["status"] == "exported"


def test_each_builder_session_exports_its_own_cache(
    stack: Stack, tools: Tools, runner: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    """``--builder linux/arm64=<the runner>``: the default engine's session and the builder's each
    export a cache, to their own tags."""
    a = f"{stack.registry_a}/{repo_name}"
    cache = f"{stack.registry_a}/{repo_name}-cache:buildcache"
    source = fixture_copy(tmp_path)
    extra = ("--build-arg", "WORK_MB=8", "--cache-to", cache, "--builder", f"linux/arm64={runner['SHIPYARD_RUNNER_ENGINE']}")
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("_EXPERIMENTAL_DAGGER_CACHE")}
    args = publish_args(stack, source, tmp_path / "out", "v1.0.0", a, ("linux/amd64", "linux/arm64"), *extra)
    proc = subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, env=env, check=False, timeout=1500)
    report = report_of(proc)
    assert proc.returncode == 0 and report["ok"], report
    statuses = {e["ref"]: e["status"] for e in report["cache"]["exports"]}
    assert statuses == {cache: "exported", f"{cache}-linux-arm64": "exported"}, report["cache"]
    assert tools.exists(cache) and tools.exists(f"{cache}-linux-arm64")
