"""``build`` on each runner, ``publish --from`` once: the stack's two engines stand in for two
CI runners (separate processes, separate output directories), and the release is read back
with host crane and cosign, never from Shipyard's report alone.

The second engine comes from ``ci/stack builder up`` (shared with other tests: it is started
when needed and never stopped here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import ROOT, Stack
from tests.integration.test_publish import report_of
from tests.integration.tools import COSIGN_PASSWORD, Tools

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "fixtures" / "app"
WORKFLOW = ROOT / "docs" / "examples" / "release-matrix.yml"
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
OTHER_SHA = "2b7e5f0c1d9a8e6f4c3b2a1908f7e6d5c4b3a291"
EPOCH = "1700000000"
ALL = "linux/amd64,linux/arm64,linux/arm/v7"
RUNNER_HOST = "_EXPERIMENTAL_DAGGER_RUNNER_HOST"
TAGS = {"1.2.3", "1.2", "1", "latest", "sha-860c190"}


def errors_of(stderr: str) -> list[str]:
    """stderr without the release's progress lines (timestamped, --progress auto off a terminal)."""
    return [line for line in stderr.strip().splitlines() if not re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line)]


@pytest.fixture
def builder() -> dict[str, str]:
    """The second engine, started if it is not running (never stopped: others use it too)."""
    stack = ["bash", str(ROOT / "ci" / "stack"), "builder"]
    up = subprocess.run([*stack, "up"], capture_output=True, text=True, check=False)
    assert up.returncode == 0, up.stderr
    env: dict[str, str] = json.loads(subprocess.run([*stack, "env", "--json"], capture_output=True, text=True, check=True).stdout)
    return env


def start(
    stack: Stack, command: str, *args: str, engine: str | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``shipyard COMMAND`` of the fixture as a process of its own; ``engine``: another engine's address."""
    build_args = ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]
    env = {**os.environ, **(extra_env or {})}
    if engine is not None:
        env[RUNNER_HOST] = engine
    argv = [sys.executable, "-m", "shipyard", command, "--source", str(FIXTURE), "--source-date-epoch", EPOCH, *build_args, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finished(proc: subprocess.Popen[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def build(stack: Stack, out: Path, platforms: str, *args: str, engine: str | None = None) -> subprocess.Popen[str]:
    return start(stack, "build", "--platform", platforms, "--out", str(out), "--json", *args, engine=engine)


def built(proc: subprocess.Popen[str]) -> dict[str, Any]:
    result = finished(proc)
    report = report_of(result)
    assert result.returncode == 0 and report["ok"], report.get("error") or result.stderr[-3000:]
    return report


def built_platforms(log: Path) -> set[str]:
    """The platforms a Dagger session's progress log shows a ``dockerBuild`` for."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", log.read_text(errors="replace"))
    return set(re.findall(r'dockerBuild\([^)]*?platform: "([^"]+)"', text, re.S))


def test_layouts_built_on_two_engines_publish_the_one_engine_release(
    stack: Stack, tools: Tools, builder: dict[str, str], repo_name: str, b_auth: str, tmp_path: Path
) -> None:
    second = builder["SHIPYARD_BUILDER_ENGINE"]
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    here = build(stack, d1, "linux/amd64", "--sha", SHA, "--runner", "runner-amd64")
    there = build(stack, d2, "linux/arm64,linux/arm/v7", "--sha", SHA, "--runner", "runner-arm64", engine=second)
    first, other = built(here), built(there)
    assert [i["platform"] for i in first["record"]["images"]] == ["linux/amd64"]
    assert [i["platform"] for i in other["record"]["images"]] == ["linux/arm64", "linux/arm/v7"]
    default = stack.env[RUNNER_HOST]  # the stack names its default engine too
    assert (first["record"]["engine"], other["record"]["engine"]) == (default, second)
    # Each engine built its own platforms only (their progress logs, not our report).
    assert built_platforms(d1 / "engine.log") == {"linux/amd64"}
    assert built_platforms(d2 / "engine.log") == {"linux/arm64", "linux/arm/v7"}
    assert tools.tags(f"{stack.registry_a}/{repo_name}") == set()  # build pushes nothing

    key, pub = tools.keypair("publisher")
    a, b = f"{stack.registry_a}/{repo_name}", f"{stack.registry_b}/{repo_name}"
    sign = ["--key", f"file:{key}", "--cosign-password", "env:SHIPYARD_TEST_COSIGN_PASSWORD"]
    release = finished(
        start(
            stack, "publish", "--tag", "v1.2.3", "--sha", SHA, "--platform", ALL, "--from", str(d1), "--from", str(d2),
            "--image", a, "--image", b, "--registry-auth", b_auth, *sign, "--smoke-port", "8080", "--smoke-path", "/health",
            "--out", str(tmp_path / "dist"), "--json", extra_env={"SHIPYARD_TEST_COSIGN_PASSWORD": COSIGN_PASSWORD},
        )
    )  # fmt: skip
    report = report_of(release)
    assert release.returncode == 0, report.get("error")
    one = f"{stack.registry_a}/{repo_name}-one"
    alone = finished(
        start(stack, "publish", "--tag", "v1.2.3", "--sha", SHA, "--platform", ALL, "--image", one,
              "--no-sbom", "--no-provenance", "--no-scan", "--out", str(tmp_path / "one"), "--json")
    )  # fmt: skip
    assert alone.returncode == 0, report_of(alone).get("error")

    # The same index as the one-engine release, on both registries, every tag naming it.
    digest = tools.digest(f"{one}:1.2.3")
    assert tools.digest(f"{a}:1.2.3") == tools.digest(f"{b}:1.2.3") == digest == report["digest"]
    for repo in (a, b):
        assert {t for t in tools.tags(repo) if not t.startswith("sha256-")} == TAGS
        assert {tools.digest(f"{repo}:{t}") for t in TAGS} == {digest}
        children = [m["digest"] for m in tools.manifest(f"{repo}@{digest}")["manifests"]]
        assert len(children) == 3
        for signed in [digest, *children]:
            assert tools.verify(f"{repo}@{signed}", pub), f"{repo}@{signed} is not signed"
        assert tools.verify_attestation(f"{repo}@{digest}", pub, "slsaprovenance1")
    assert report["smoke"]["result"] == "passed" and report["scan"]["gate"] == "passed"
    # Provenance names each runner and lists the layouts' images as resolved dependencies.
    provenance = json.loads((tmp_path / "dist" / "provenance.json").read_text())
    builders = provenance["buildDefinition"]["internalParameters"]["builders"]
    assert [(x["runner"], x["address"], x["platforms"]) for x in builders] == [
        ("runner-amd64", default, ["linux/amd64"]),
        ("runner-arm64", second, ["linux/arm64", "linux/arm/v7"]),
    ]
    assert all(x["dagger"].startswith("v0.19") for x in builders)
    layout_digests = {i["digest"] for r in (first, other) for i in r["record"]["images"]}
    dependencies = {
        "sha256:" + d["digest"]["sha256"] for d in provenance["buildDefinition"]["resolvedDependencies"] if "oci-layout:" in d["uri"]
    }
    assert dependencies == layout_digests


def test_layouts_that_do_not_belong_together_are_refused_and_nothing_is_pushed(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    amd64, arm64, other_commit = tmp_path / "amd64", tmp_path / "arm64", tmp_path / "other"
    procs = [
        build(stack, amd64, "linux/amd64", "--sha", SHA),
        build(stack, arm64, "linux/arm64", "--sha", SHA),
        build(stack, other_commit, "linux/arm64", "--sha", OTHER_SHA),
    ]
    for running in procs:
        built(running)
    twice = tmp_path / "amd64-again"
    shutil.copytree(amd64, twice)
    repo = f"{stack.registry_a}/{repo_name}"
    cases = {
        "two commits": (
            ["--from", str(amd64), "--from", str(other_commit)],
            ["the layouts do not belong together: commit '860c1904a1ce'", str(amd64), f"'2b7e5f0c1d9a' in {other_commit}"],
        ),
        "a missing platform": (["--from", str(amd64)], ["no layout holds linux/arm64 of the release's platforms", f"{amd64}: linux/amd64"]),
        "a platform twice": (
            ["--from", str(amd64), "--from", str(arm64), "--from", str(twice)],
            [f"linux/amd64 is in {amd64} and in {twice}: a platform twice"],
        ),
    }
    for case, (layouts, words) in cases.items():
        proc = finished(
            start(stack, "publish", "--tag", "v1.2.3", "--sha", SHA, "--platform", "linux/amd64,linux/arm64", *layouts,
                  "--image", repo, "--out", str(tmp_path / "dist"))
        )  # fmt: skip
        assert proc.returncode == 2, f"{case}: {proc.stderr[-2000:]}"
        lines = errors_of(proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("shipyard: error: --from ["), f"{case}: {proc.stderr}"
        assert all(word in lines[0] for word in words), f"{case}: {lines[0]}"
        print(f"{case}: {lines[0]}")  # for the record (pytest -rP)
        assert tools.tags(repo) == set(), case


def test_a_corrupted_layout_is_refused_naming_the_blob_and_nothing_is_pushed(
    stack: Stack, tools: Tools, repo_name: str, tmp_path: Path
) -> None:
    layout = tmp_path / "amd64"
    report = built(build(stack, layout, "linux/amd64", "--sha", SHA))
    manifest = json.loads((layout / "blobs" / "sha256" / report["record"]["images"][0]["digest"].split(":")[1]).read_bytes())
    layer = manifest["layers"][-1]["digest"]
    blob = layout / "blobs" / "sha256" / layer.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, as a bad download would
    blob.write_bytes(bytes(data))
    repo = f"{stack.registry_a}/{repo_name}"
    proc = finished(
        start(stack, "publish", "--tag", "v1.2.3", "--sha", SHA, "--platform", "linux/amd64", "--from", str(layout),
              "--image", repo, "--out", str(tmp_path / "dist"))
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = "\n".join(errors_of(proc.stderr))
    assert line.startswith(f"shipyard: error: --from '{layout}': blob {layer} does not match its digest"), line
    assert "\n" not in line and "nothing was pushed" in line
    print(line)  # for the record (pytest -rP)
    assert tools.tags(repo) == set()


# --- the example workflow, run as written -----------------------------------------------------


def test_the_example_workflow_passes_actionlint(stack: Stack) -> None:
    proc = subprocess.run([str(stack.bin / "actionlint"), "-no-color", str(WORKFLOW)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# What the test stack provides in place of these steps (each is accounted for, none ignored).
SETUP_STEPS = {
    "actions/checkout@v4": "the application checkout the test made",
    "docker/setup-qemu-action@v3": "the stack's engines run foreign RUN steps under QEMU already",
    "Install Dagger and Shipyard": "the stack's Dagger CLI and this checkout's shipyard",
}


def expressions(text: str, values: dict[str, str]) -> str:
    """``${{ name }}`` replaced by ``values[name]``; an expression the test does not know fails it."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in values, f"the workflow uses ${{{{ {name} }}}}, which the test does not supply"
        return values[name]

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def application(tmp_path: Path, stack: Stack) -> tuple[Path, str]:
    """An application repository: the fixture app, its base images the stack's (the only change:
    the runners here reach no other registry), committed with Git."""
    app = tmp_path / "app"
    shutil.copytree(FIXTURE, app)
    dockerfile = (app / "Dockerfile").read_text()
    dockerfile = re.sub(r"^ARG GOLANG_IMAGE=.*$", f"ARG GOLANG_IMAGE={stack.images['golang']}", dockerfile, flags=re.M)
    dockerfile = re.sub(r"^ARG BASE_IMAGE=.*$", f"ARG BASE_IMAGE={stack.images['base']}", dockerfile, flags=re.M)
    (app / "Dockerfile").write_text(dockerfile)
    git = ["git", "-C", str(app), "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "app"], check=True, env={**os.environ, "GIT_COMMITTER_DATE": "1700000000 +0000"})
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return app, sha


def run_job(job: dict[str, Any], values: dict[str, str], env: dict[str, str], workspace: Path, artifacts: Path) -> list[str]:
    """A job's steps in ``workspace``: ``run:`` scripts with bash as Actions runs them (expressions
    substituted), upload/download-artifact as the artifact store does it. Returns the commands run."""
    ran = []
    job_env = {**env, **{k: expressions(str(v), values) for k, v in (job.get("env") or {}).items()}}
    for step in job["steps"]:
        uses, name = step.get("uses"), step.get("name", "")
        if uses in SETUP_STEPS or name in SETUP_STEPS:
            continue
        with_ = {k: expressions(str(v), values) for k, v in (step.get("with") or {}).items()}
        if uses == "actions/upload-artifact@v4":
            shutil.copytree(workspace / with_["path"], artifacts / with_["name"])
            continue
        if uses == "actions/download-artifact@v4":  # a pattern, no merge: each artifact in a folder of its name
            prefix = with_["pattern"].removesuffix("*")
            for artifact in sorted(artifacts.iterdir()):
                if artifact.name.startswith(prefix):
                    shutil.copytree(artifact, workspace / with_["path"] / artifact.name)
            continue
        assert uses is None and "run" in step, f"a step the test does not know: {step}"
        script = expressions(step["run"], values)
        step_env = {**job_env, **{k: expressions(str(v), values) for k, v in (step.get("env") or {}).items()}}
        proc = subprocess.run(
            ["bash", "-e", "-c", script], cwd=workspace, env=step_env, capture_output=True, text=True, check=False, timeout=1800
        )
        assert proc.returncode == 0, f"{name}: `{script}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        ran.append(script)
    return ran


def test_the_example_workflow_run_as_written_releases_the_one_engine_release(
    stack: Stack, tools: Tools, builder: dict[str, str], repo_name: str, tmp_path: Path
) -> None:
    """Each matrix job in a workspace of its own (a runner); the arm64 runner's engine is the
    stack's second engine. The environment the test sets: the runner's engine, the secrets, and
    ``REGISTRY`` (the stack's registry B in place of ghcr.io)."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    app, sha = application(tmp_path, stack)
    key, pub = tools.keypair("publisher")
    github = {
        "github.sha": sha,
        "github.ref_name": "v1.2.3",
        "github.repository": repo_name,
        "github.actor": stack.username_b,
        "secrets.GITHUB_TOKEN": stack.password_b,
        "secrets.COSIGN_KEY": key.read_text(),
        "secrets.COSIGN_PASSWORD": COSIGN_PASSWORD,
    }
    base_env = dict(os.environ)  # the stack's: its default engine, CLI and tool images
    base_env["PATH"] = f"{Path(sys.executable).parent}:{base_env['PATH']}"  # `shipyard` as the runner installed it
    base_env.update({k: str(v) for k, v in workflow["env"].items()})
    base_env["REGISTRY"] = stack.registry_b
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()

    matrix = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
    assert [(m["platform"], m["runner"]) for m in matrix] == [
        ("linux/amd64", "ubuntu-24.04"),
        ("linux/arm64", "ubuntu-24.04-arm"),
        ("linux/arm/v7", "ubuntu-24.04"),
    ]
    commands = []
    for entry in matrix:
        runner = tmp_path / f"runner-{entry['name']}"
        shutil.copytree(app, runner)
        env = dict(base_env)
        if entry["runner"].endswith("-arm"):  # the native arm64 runner: the stack's second engine
            env[RUNNER_HOST] = builder["SHIPYARD_BUILDER_ENGINE"]
        values = {**github, **{f"matrix.{k}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in entry.items()}}
        commands += run_job(workflow["jobs"]["build"], values, env, runner, artifacts)
        record = json.loads((runner / f"layout-{entry['name']}" / "shipyard-build.json").read_text())
        assert [i["platform"] for i in record["images"]] == [entry["platform"]]
        assert record["runner"] == entry["runner"] and record["commit"] == sha
    final = tmp_path / "runner-publish"
    shutil.copytree(app, final)
    commands += run_job(workflow["jobs"]["publish"], github, base_env, final, artifacts)
    assert [c.split()[:2] for c in commands] == [["shipyard", "build"]] * 3 + [["shipyard", "publish"]]

    repo = f"{stack.registry_b}/{repo_name}"
    one = f"{stack.registry_a}/{repo_name}-one"
    alone = subprocess.run(
        [sys.executable, "-m", "shipyard", "publish", "--source", str(app), "--tag", "v1.2.3", "--platform", ALL, "--image", one,
         "--no-sbom", "--no-provenance", "--no-scan", "--out", str(tmp_path / "one"), "--json"],
        capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    assert alone.returncode == 0, report_of(alone).get("error")
    digest = tools.digest(f"{one}:1.2.3")
    assert tools.digest(f"{repo}:1.2.3") == digest
    assert {t for t in tools.tags(repo) if not t.startswith("sha256-")} == {"1.2.3", "1.2", "1", "latest", f"sha-{sha[:7]}"}
    assert tools.verify(f"{repo}@{digest}", pub)
    report = json.loads((final / "dist" / "report.json").read_text())
    assert report["ok"] and report["smoke"]["result"] == "passed"
    assert [p["engine"] for p in report["platforms"]] == [
        "ubuntu-24.04 (--from layouts/layout-amd64)",
        "ubuntu-24.04-arm (--from layouts/layout-arm64)",
        "ubuntu-24.04 (--from layouts/layout-arm-v7)",
    ]


# --- the other door: dagger call ----------------------------------------------------------------


def dagger_call(stack: Stack, *args: str) -> None:
    """The stack's `dagger` CLI in the project checkout, as a user runs it (module mode)."""
    env = {**os.environ, **stack.env, "NO_COLOR": "1", "DAGGER_NO_NAG": "1"}
    cli = stack.env["_EXPERIMENTAL_DAGGER_CLI_BIN"]
    proc = subprocess.run(
        [cli, "--progress=plain", "call", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    assert proc.returncode == 0, f"dagger call {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"


def test_dagger_call_build_and_publish_from_are_the_clis(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    common = ["--source", "tests/fixtures/app", "--sha", SHA, "--source-date-epoch", EPOCH]
    common += ["--build-arg", f"GOLANG_IMAGE={stack.images['golang']}", "--build-arg", f"BASE_IMAGE={stack.images['base']}"]
    by_module = tmp_path / "module-layout"
    dagger_call(stack, "build", *common, "--platform", "linux/amd64,linux/arm64", "--runner", "module", "-o", str(by_module))
    by_cli = built(build(stack, tmp_path / "cli-layout", "linux/amd64,linux/arm64", "--sha", SHA, "--runner", "cli"))
    record = json.loads((by_module / "shipyard-build.json").read_text())
    assert record["images"] == by_cli["record"]["images"] and record["runner"] == "module"

    port = stack.registry_a.rsplit(":", 1)[1]
    module_repo, cli_repo = f"{stack.registry_a}/{repo_name}-module", f"{stack.registry_a}/{repo_name}-cli"
    off = ["--no-sbom", "--no-provenance", "--no-scan"]
    dagger_call(stack, "publish", "--tag", "v1.2.3", *common, "--platform", "linux/amd64,linux/arm64", "--from", str(by_module),
                "--image", module_repo, "--registry", f"tcp://localhost:{port}", *off, "-o", str(tmp_path / "module-dist"))  # fmt: skip
    alone = finished(
        start(stack, "publish", "--tag", "v1.2.3", "--sha", SHA, "--platform", "linux/amd64,linux/arm64", "--image", cli_repo,
              *off, "--out", str(tmp_path / "cli-dist"), "--json")
    )  # fmt: skip
    assert alone.returncode == 0, report_of(alone).get("error")
    assert tools.digest(f"{module_repo}:1.2.3") == tools.digest(f"{cli_repo}:1.2.3")
    assert tools.tags(module_repo) == TAGS
