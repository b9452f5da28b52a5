"""Shipyard from the user's own repository: called by version, the same digest through every door.

An application repository (a Dockerfile, no Shipyard code; objects packed by ``git gc``, and a
shallow clone of it) calls Shipyard served at its release tag from a loopback Git server, as a
user calls ``github.com/…/shipyard@vX.Y.Z``. Nothing passes ``--source-date-epoch``: the commit
time of the packed and the shallow checkout is what every door reads. Results are read back with
host crane, never from Shipyard's own report alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard import __version__
from tests.integration.conftest import ROOT, Stack
from tests.integration.git_server import ServedRepository, serve
from tests.integration.test_keyless import runner_env, verify
from tests.integration.tools import COSIGN_PASSWORD, Tools

pytestmark = pytest.mark.integration

TIMEOUT = 1500  # a cold engine loads the module from Git: SDK runtime, then its Python dependencies
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TAG = f"v{__version__}"
FIXTURE = ROOT / "tests" / "fixtures" / "app"
COMMIT_DATE = "2025-03-04T05:06:07Z"
# The seeds' docker/metadata-action `tags:` block, exactly as their workflows carry it.
SEED_TAGS = """\
type=semver,pattern={{version}}
type=semver,pattern={{major}}.{{minor}}
type=semver,pattern={{major}}
type=sha
type=raw,value=latest,enable={{is_default_branch}}
"""
FAST = ["--platform", "linux/amd64", "--no-sbom", "--no-provenance", "--no-scan"]  # the digest is the point


def git(path: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "app", "GIT_AUTHOR_EMAIL": "app@example.com"}
    env |= {"GIT_COMMITTER_NAME": "app", "GIT_COMMITTER_EMAIL": "app@example.com"}
    env |= {"GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE}
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=True, env=env).stdout.strip()


def application(path: Path, *, trivyignore: bool = True) -> Path:
    """A fresh application repository: the fixture app, one commit, objects and refs packed."""
    shutil.copytree(FIXTURE, path, ignore=None if trivyignore else shutil.ignore_patterns(".trivyignore"))
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", "https://github.com/acme/app.git")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "app")
    git(path, "gc", "-q")
    git(path, "pack-refs", "--all")
    assert not list((path / ".git" / "objects").glob("??/*")), "git gc left loose objects"
    return path


def run(stack: Stack, argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **stack.env, "NO_COLOR": "1", "DAGGER_NO_NAG": "1", **(env or {})}
    full.pop("SOURCE_DATE_EPOCH", None)
    proc = subprocess.run(argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, ANSI.sub("", proc.stdout), ANSI.sub("", proc.stderr))


def dagger(stack: Stack, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(stack, [stack.env["_EXPERIMENTAL_DAGGER_CLI_BIN"], "--progress=plain", *args], cwd=cwd, env=env)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{' '.join(map(str, proc.args))} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return proc.stdout


def loopback(stack: Stack) -> list[str]:
    """What the stack needs in place of the internet: its registry A as a Service, tool images from its mirror."""
    port = stack.registry_a.rsplit(":", 1)[1]
    return ["--registry", f"tcp://localhost:{port}", "--tool-images", stack.env["SHIPYARD_TOOL_IMAGES"]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedRepository]:
    """Shipyard's committed HEAD as a bare repository tagged v<version>, on loopback Git servers."""
    with serve(ROOT, TAG, tmp_path_factory.mktemp("served")) as repository:
        yield repository


@pytest.fixture(scope="module")
def module_ref(served: ServedRepository) -> str:
    """The form users write, ``HOST/PATH.git@vX.Y.Z``, over smart HTTP (see test_which_git_servers_the_engine_loads_a_module_from)."""
    return f"{served.smart_http}/shipyard.git@{TAG}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return application(tmp_path_factory.mktemp("packed") / "app")


@pytest.fixture(scope="module")
def shallow(app: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CI checkout of the same commit: ``actions/checkout`` with ``fetch-depth: 1``."""
    clone = tmp_path_factory.mktemp("shallow") / "app"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{app}", str(clone)], check=True)
    git(clone, "remote", "set-url", "origin", "https://github.com/acme/app.git")
    assert (clone / ".git" / "shallow").is_file()
    return clone


def test_which_git_servers_the_engine_loads_a_module_from(stack: Stack, served: ServedRepository, app: Path) -> None:
    """The engine (host network namespace) loads a module from a loopback Git server over smart
    HTTP (on port 80: the reference's port is dropped); dumb HTTP and git:// are refused."""
    answers = {}
    for name, base in (("smart http", served.smart_http), ("dumb http", served.dumb_http), ("git daemon", served.git_daemon)):
        proc = dagger(stack, "call", "-m", f"{base}/shipyard.git@{TAG}", "version", cwd=app)
        answers[name] = proc.stdout.strip() if proc.returncode == 0 else "refused: " + proc.stderr.strip().splitlines()[-1]
    print(json.dumps(answers, indent=2))
    assert answers["smart http"] == __version__
    # Dumb HTTP: the engine asks for info/refs?service=git-upload-pack and cannot read the static answer.
    assert answers["dumb http"].startswith("refused: ") and "failed to resolve git tags" in answers["dumb http"]
    # git://: no such scheme in Dagger's module references; it is taken for a local path.
    assert answers["git daemon"].startswith("refused: ") and "does not exist" in answers["git daemon"]


def test_called_by_version_from_packed_and_shallow_checkouts_gives_the_cli_s_digest(
    stack: Stack, tools: Tools, repo_name: str, module_ref: str, app: Path, shallow: Path, tmp_path: Path
) -> None:
    common = ["--tag", "v1.2.3", *FAST]
    a = stack.registry_a
    # 1. the CLI, in the application repository
    cli = f"{a}/{repo_name}-cli"
    ok(
        run(
            stack,
            [sys.executable, "-m", "shipyard", "publish", "--source", ".", *common, "--image", cli, "--out", str(tmp_path / "c")],
            cwd=app,
        )
    )
    # 2. dagger call in Shipyard's checkout (the module is the working tree), the app as --source
    checkout = f"{a}/{repo_name}-checkout"
    args = ["call", "publish", "--source", str(app), *common, "--image", checkout, *loopback(stack)]
    ok(dagger(stack, *args, "-o", str(tmp_path / "k"), cwd=ROOT))

    def by_version(image: str, cwd: Path) -> None:
        """``dagger call -m Shipyard@tag publish --source .`` as a user types it in ``cwd``."""
        args = ["call", "-m", module_ref, "publish", "--source", ".", *common, "--image", image, *loopback(stack), "-o", "dist"]
        ok(dagger(stack, *args, cwd=cwd))

    # 3. dagger call -m Shipyard@tag, from the packed application repository
    remote = f"{a}/{repo_name}-remote"
    by_version(remote, app)
    # 4. the same from a shallow clone (fetch-depth: 1)
    ci = f"{a}/{repo_name}-shallow"
    by_version(ci, shallow)

    digests = {repo: tools.digest(f"{repo}:1.2.3") for repo in (cli, checkout, remote, ci)}
    print(json.dumps(digests, indent=2))
    assert len(set(digests.values())) == 1, digests
    sha = git(app, "rev-parse", "HEAD")
    assert tools.tags(remote) == {"1.2.3", "1.2", "1", f"sha-{sha[:7]}", "latest"}
    index = tools.manifest(f"{remote}:1.2.3")
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64"]
    report = json.loads((app / "dist" / "report.json").read_text())
    assert report["digest"] == digests[remote]
    labels = index["annotations"]
    assert labels["org.opencontainers.image.created"] == COMMIT_DATE  # the commit time of the packed commit, not epoch 0
    assert labels["org.opencontainers.image.revision"] == sha and labels["org.opencontainers.image.source"] == "https://github.com/acme/app"


def test_forgetting_source_asks_for_source_dot_and_pushes_nothing(
    stack: Stack, tools: Tools, repo_name: str, module_ref: str, app: Path
) -> None:
    target = f"{stack.registry_a}/{repo_name}"
    proc = dagger(stack, "call", "-m", module_ref, "publish", "--tag", "v1.2.3", "--image", target, *FAST, *loopback(stack), cwd=app)
    assert proc.returncode != 0
    assert "--source '(default)': is Shipyard's own repository" in proc.stderr and "Pass --source . to release" in proc.stderr
    assert not tools.exists(f"{target}:1.2.3")


def test_sync_readme_without_readme_does_not_read_shipyard_s_readme(stack: Stack, module_ref: str, app: Path) -> None:
    proc = dagger(stack, "call", "-m", module_ref, "sync-readme", "--image", "docker.io/acme/app", cwd=app)
    assert proc.returncode != 0
    assert "--readme '(default)': is Shipyard's own README" in proc.stderr and "Pass --readme README.md" in proc.stderr


# --- the GitHub Actions wrappers, executed -------------------------------------------------------


def call_lines(workflow: Path) -> dict[str, str]:
    """Each dagger/dagger-for-github step's name -> its ``call:``, folded as the action folds it."""
    text = workflow.read_text()
    steps = {}
    for block in re.split(r"\n      - ", text)[1:]:
        if "uses: dagger/dagger-for-github@" not in block:
            continue
        name = re.search(r"^name: (.+)$", block, re.MULTILINE)
        folded = re.search(r"^\s+call: >-\n((?:\s{12}.*\n?)+)", block, re.MULTILINE)
        inline = re.search(r"^\s+call: (?!>-)(.+)$", block, re.MULTILINE)
        call = " ".join(folded.group(1).split()) if folded else inline.group(1).strip() if inline else ""
        module = re.search(r"^\s+module: (.+)$", block, re.MULTILINE)
        steps[name.group(1) if name else "?"] = (module.group(1).strip() if module else "") + "\0" + call
    return steps


def substitute(line: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        return values[match.group(1).strip()]

    out = re.sub(r"\$\{\{(.+?)\}\}", value, line)
    assert "${{" not in out
    return out


def run_step(
    stack: Stack, step: str, values: dict[str, str], *, cwd: Path, env: dict[str, str], extra: list[str]
) -> subprocess.CompletedProcess[str]:
    """What the action's exec step runs: ``dagger call -m MODULE <call>`` in bash (the call line is
    inlined into its script, so "$TAGS" expands there), with the stack's plumbing appended."""
    module, call = (substitute(part, values) for part in step.split("\0"))
    cli = stack.env["_EXPERIMENTAL_DAGGER_CLI_BIN"]
    script = f'"$DAGGER" --progress=plain call ${{INPUT_MODULE:+-m $INPUT_MODULE}} {call} ' + " ".join(extra)
    return run(stack, ["bash", "-c", script], cwd=cwd, env={**env, "DAGGER": cli, "INPUT_MODULE": module})


@pytest.fixture(scope="module")
def signing(tools: Tools) -> dict[str, str]:
    key, _ = tools.keypair("wrapper")
    return {"COSIGN_KEY": key.read_text(), "COSIGN_PASSWORD": COSIGN_PASSWORD, "REGISTRY_TOKEN": "not-a-real-token"}


def workflow_values(stack: Stack, repo_name: str, module_ref: str, sha: str, tag: str) -> dict[str, str]:
    return {
        "env.SHIPYARD": module_ref,
        "env.REGISTRY": stack.registry_a,
        "env.TAG": tag,
        "github.ref_name": tag,
        "github.actor": "acme-bot",
        "github.sha": sha,
        "github.repository": repo_name,
    }


def test_the_example_workflow_runs_verbatim_with_the_seed_tags_block(
    stack: Stack, tools: Tools, repo_name: str, module_ref: str, signing: dict[str, str], tmp_path: Path
) -> None:
    workflow = ROOT / "docs" / "examples" / "release.yml"
    assert SEED_TAGS in re.sub(r"^ {8}", "", workflow.read_text(), flags=re.MULTILINE), "the example's TAGS block is not the seeds'"
    app = application(tmp_path / "app")
    sha = git(app, "rev-parse", "HEAD")
    values = workflow_values(stack, repo_name, module_ref, sha, "v1.2.3")
    steps = call_lines(workflow)
    env = {**signing, "TAGS": SEED_TAGS}
    proc = run_step(stack, steps["Publish"], values, cwd=app, env=env, extra=loopback(stack))
    ok(proc)
    ok(run_step(stack, steps["Fail if the release failed"], values, cwd=app, env=env, extra=[]))
    target = f"{stack.registry_a}/{repo_name}"
    # The same tags through the wrapper (pushed), `shipyard tags` and `dagger call tags`
    by_cli = ok(
        run(stack, [sys.executable, "-m", "shipyard", "tags", "--ref", "refs/tags/v1.2.3", "--sha", sha, "--spec", SEED_TAGS], cwd=app)
    )
    by_call = ok(dagger(stack, "call", "-m", module_ref, "tags", "--ref", "refs/tags/v1.2.3", "--sha", sha, "--spec", SEED_TAGS, cwd=app))
    expected = {"1.2.3", "1.2", "1", f"sha-{sha[:7]}", "latest"}
    assert set(by_cli.split()) == set(by_call.split()) == expected
    assert {t for t in tools.tags(target) if not t.startswith("sha256-")} == expected
    report = json.loads((app / "dist" / "report.json").read_text())
    assert report["ok"] and report["scan"]["gate"] == "passed" and report["signatures"]
    assert (app / "dist" / "scan" / "trivy.sarif").is_file() and (app / "dist" / "release-notes.md").is_file()


def local_sigstore(stack: Stack) -> list[str]:
    """What the keyless call line needs in place of the public Sigstore: the stack's Fulcio, Rekor,
    TSA and trusted root, and each Sigstore service (the OIDC issuer too) as a Service."""
    ports = {
        stack.env[k].split("//", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit(":", 1)[1]
        for k in ("SHIPYARD_FULCIO_URL", "SHIPYARD_REKOR_URL", "SHIPYARD_TSA_URL", "SHIPYARD_OIDC_ISSUER")
    }
    return [
        "--fulcio-url", stack.env["SHIPYARD_FULCIO_URL"],
        "--rekor-url", stack.env["SHIPYARD_REKOR_URL"],
        "--timestamp-url", stack.env["SHIPYARD_TSA_URL"],
        "--sigstore-trusted-root", stack.env["SHIPYARD_SIGSTORE_TRUSTED_ROOT"],
        *(arg for port in sorted(ports) for arg in ("--registry", f"tcp://localhost:{port}")),
    ]  # fmt: skip


def test_shipyard_s_own_release_workflow_runs_verbatim(
    stack: Stack, tools: Tools, repo_name: str, served: ServedRepository, tmp_path: Path
) -> None:
    """release.yml runs `module: .` in a checkout of Shipyard at the tag, as actions/checkout leaves
    it, and signs keyless: the runner's OIDC request URL and token (here the stack's issuer), the
    stack's Sigstore appended after the verbatim line as the registry and tool images are."""
    checkout = tmp_path / "shipyard"
    subprocess.run(
        [
            "git",
            "-c",
            "advice.detachedHead=false",
            "clone",
            "-q",
            "--depth",
            "1",
            "-b",
            TAG,
            f"{served.smart_http}/shipyard.git",
            str(checkout),
        ],
        check=True,
    )
    sha = git(checkout, "rev-parse", "HEAD")
    values = workflow_values(stack, repo_name, ".", sha, "v1.2.3")
    steps = call_lines(ROOT / ".github" / "workflows" / "release.yml")
    env = {"REGISTRY_TOKEN": "not-a-real-token", **runner_env(stack, "v1.2.3")}
    ok(run_step(stack, steps["Publish"], values, cwd=checkout, env=env, extra=[*loopback(stack), *local_sigstore(stack)]))
    ok(run_step(stack, steps["Fail if the release failed"], values, cwd=checkout, env=env, extra=[]))
    target = f"{stack.registry_a}/{repo_name}/example"
    assert {t for t in tools.tags(target) if not t.startswith("sha256-")} == {"1.2.3", "1.2", "1", f"sha-{sha[:7]}", "latest"}
    report = json.loads((checkout / "dist" / "report.json").read_text())
    assert report["ok"] and report["signatures"]
    # signed keyless: the host's cosign verifies the workflow identity's certificate with the stack's trust alone
    identity = r"^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v1\.2\.3$"
    proc = verify(tools, stack, f"{target}@{report['digest']}", identity=identity)
    assert proc.returncode == 0, proc.stderr[-1500:]


def test_a_failed_scan_gate_through_the_wrapper_fails_the_job_and_leaves_dist(
    stack: Stack, tools: Tools, repo_name: str, module_ref: str, signing: dict[str, str], tmp_path: Path
) -> None:
    """The stack's base image carries a synthetic HIGH advisory; without the fixture's .trivyignore the gate fails."""
    app = application(tmp_path / "app", trivyignore=False)
    values = workflow_values(stack, repo_name, module_ref, git(app, "rev-parse", "HEAD"), "v1.2.3")
    steps = call_lines(ROOT / "docs" / "examples" / "release.yml")
    env = {**signing, "TAGS": SEED_TAGS}
    publish = run_step(stack, steps["Publish"], values, cwd=app, env=env, extra=loopback(stack))
    check = run_step(stack, steps["Fail if the release failed"], values, cwd=app, env=env, extra=[])
    job_failed = publish.returncode != 0 or check.returncode != 0
    assert publish.returncode == 0, publish.stderr[-3000:]  # it handed dist/ over
    assert job_failed and "Release 1.2.3: FAILED" in check.stderr + check.stdout
    report = json.loads((app / "dist" / "report.json").read_text())
    assert not report["ok"] and report["scan"]["gate"] == "failed" and "CVE-2099-0001" in report["error"]
    sarif = json.loads((app / "dist" / "scan" / "trivy.sarif").read_text())
    assert any(r["ruleId"] == "CVE-2099-0001" for run_ in sarif["runs"] for r in run_["results"])
    # no release tag moved (cosign's sha256-<digest>.sig tags name digests, not releases)
    assert {t for t in tools.tags(f"{stack.registry_a}/{repo_name}") if not t.startswith("sha256-")} == set()
