"""A release as people see it, for real: the live view in a terminal (tmux), plain progress
lines arriving while the release runs, GitHub Actions' groups, annotations, job summary and step
outputs, and a Dockerfile syntax error as one line on stderr. Results are read back with crane."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Stack
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration

SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
PLATFORMS = "linux/amd64,linux/arm64"


def _source(tmp_path: Path, stack: Stack, body: str | None = None) -> Path:
    """A small source whose build takes a few seconds (fresh work every run: a nonce)."""
    source = tmp_path / "src"
    source.mkdir()
    nonce = uuid.uuid4().hex
    text = body or (
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG NONCE\nRUN sleep 4 && echo $NONCE > /nonce\nRUN sleep 2 && uname -m > /machine\n"
    )
    (source / "Dockerfile").write_text(text)
    (source / "nonce").write_text(nonce)
    return source


def _args(stack: Stack, source: Path, out: Path, repo: str, *extra: str) -> list[str]:
    return [
        "publish",
        "--tag",
        "v1.4.0",
        "--source",
        str(source),
        "--out",
        str(out),
        "--image",
        repo,
        "--platform",
        PLATFORMS,
        "--build-arg",
        f"BASE_IMAGE={stack.images['base']}",
        "--build-arg",
        f"NONCE={uuid.uuid4().hex}",
        "--no-scan",
        "--no-sbom",
        *extra,
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(extra)
    return env


def test_plain_progress_lines_arrive_while_the_release_runs(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    repo = f"{stack.registry_a}/{repo_name}"
    command = [sys.executable, "-m", "shipyard", *_args(stack, _source(tmp_path, stack), tmp_path / "dist", repo, "--progress", "plain")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    arrived: list[tuple[float, str]] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:  # line by line, as a CI log reader would
            arrived.append((time.monotonic(), line.rstrip("\n")))

    reader = threading.Thread(target=read_stderr)
    reader.start()
    stdout = proc.stdout.read() if proc.stdout else ""
    proc.wait(timeout=900)
    exited = time.monotonic()
    reader.join(timeout=30)
    lines = [line for _, line in arrived]
    assert proc.returncode == 0, "\n".join(lines[-30:])
    assert stdout.startswith("Release 1.4.0: published"), stdout  # the report: on stdout, apart from the progress
    assert all(re.match(STAMP + " ", line) for line in lines), lines
    events = [line[21:] for line in lines]
    for step in ("build+assemble", "push", "provenance", "promote"):  # one line as each step starts, one as it ends
        assert sum(e == f"start  {step}" for e in events) == 1, events
        assert sum(re.fullmatch(rf"done   {re.escape(step)} \(\d+\.\d s\)", e) is not None for e in events) == 1, events
    for platform in PLATFORMS.split(","):  # each platform's Dockerfile steps, from the engine's progress
        assert f"build  {platform}: [2/3] RUN sleep 4 && echo" in "\n".join(events), events
    assert f"tags   {repo}: 1.4.0, 1.4, 1, latest" in events, "\n".join(events)
    started_build = next(t for t, line in arrived if line.endswith("start  build+assemble"))
    first_build_line = next(t for t, line in arrived if " build  linux/" in line)
    assert exited - started_build > 5 and exited - first_build_line > 3, "the lines came only at the end"
    assert tools.tags(repo) >= {"1.4.0", "1.4", "1", "latest"}


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real terminal (tmux, 120x40) running a shell in the test's environment."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (ci/stack installs it from Debian)")
    name = f"shipyard-{uuid.uuid4().hex[:8]}"
    rc = tmp_path / "env.sh"
    rc.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in _env(TERM="xterm-256color").items() if k.isidentifier()))
    _tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", f"bash --norc --noprofile --rcfile {rc} -i")
    time.sleep(0.5)
    _tmux("send-keys", "-t", name, f". {rc}; PS1='$ '; clear", "Enter")
    time.sleep(0.5)
    yield name, tmp_path
    subprocess.run(["tmux", "kill-session", "-t", name], check=False)


def _screen(name: str) -> str:
    return _tmux("capture-pane", "-p", "-t", name)


def _run_in(name: str, argv: list[str]) -> None:
    line = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "shipyard", *argv]) + '; echo "EX""IT=$?"'  # not EXIT= as typed
    _tmux("send-keys", "-t", name, line, "Enter")


def test_a_terminal_shows_steps_and_platform_builds_live(stack: Stack, tools: Tools, repo_name: str, terminal: tuple[str, Path]) -> None:
    name, tmp_path = terminal
    repo = f"{stack.registry_a}/{repo_name}"
    _run_in(name, _args(stack, _source(tmp_path, stack), tmp_path / "dist", repo))  # --progress auto: a terminal
    screens: list[str] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        screen = _screen(name)
        screens.append(screen)
        if "EXIT=" in screen:
            break
        time.sleep(0.3)
    final = screens[-1]
    (tmp_path / "final-screen.txt").write_text(final)
    assert "EXIT=0" in final, final
    live = [s for s in screens if "EXIT=" not in s]
    building = [s for s in live if re.search(r"build\+assemble\s+\d+\.\d s", s) and any(c in s for c in SPINNER)]
    with_platforms = [s for s in building if re.search(r"linux/amd64\s+\[\d/3\] RUN", s) and re.search(r"linux/arm64\s+\[\d/3\] RUN", s)]
    assert with_platforms, "no live screen showed each platform's Dockerfile step:\n" + "\n---\n".join(live[-5:])
    (tmp_path / "live-screen.txt").write_text(with_platforms[len(with_platforms) // 2])
    seconds = {re.search(r"build\+assemble\s+(\d+\.\d) s", s).group(1) for s in building}  # type: ignore[union-attr]
    assert len(seconds) >= 3, f"the build's line did not update while it ran: {seconds}"
    assert any(re.search(r"✓ build\+assemble\s+\d+\.\d s", s) for s in live), "no finished step shown before the release ended"
    assert len({s for s in with_platforms}) >= 2, "the platform lines never changed"
    for step in ("engine session", "build+assemble", "push", "provenance", "promote"):
        assert re.search(rf"✓ {re.escape(step)}\s+\d+\.\d s", final), final
    assert f"tags {repo}: 1.4.0, 1.4, 1, latest" in final
    assert not SPINNER & set(final), "the live area was left on the screen"
    assert tools.tags(repo) >= {"1.4.0", "latest"}


def test_ctrl_c_leaves_a_clean_screen_and_moves_no_tag(stack: Stack, tools: Tools, repo_name: str, terminal: tuple[str, Path]) -> None:
    name, tmp_path = terminal
    repo = f"{stack.registry_a}/{repo_name}"
    _run_in(name, _args(stack, _source(tmp_path, stack), tmp_path / "dist", repo))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not re.search(r"linux/amd64\s+\[\d/3\] RUN", _screen(name)):
        time.sleep(0.3)
    _tmux("send-keys", "-t", name, "C-c")
    while time.monotonic() < deadline and "EXIT=" not in _screen(name):
        time.sleep(0.3)
    final = _screen(name)
    assert "EXIT=130" in final and "shipyard: interrupted" in final, final
    assert not SPINNER & set(final), final
    assert _tmux("display", "-p", "-t", name, "#{cursor_flag}").strip() == "1", "the cursor stayed hidden"
    assert tools.tags(repo) == set()


def _github_run(stack: Stack, source: Path, tmp_path: Path, repo: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    summary, outputs = tmp_path / "step-summary.md", tmp_path / "github-output"
    summary.write_text("earlier step's summary\n")
    outputs.write_text("earlier=1\n")
    env = _env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs))
    command = [sys.executable, "-m", "shipyard", *_args(stack, source, tmp_path / "dist", repo, "--json")]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=900), summary, outputs


def _outputs(text: str) -> dict[str, str]:
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            key, delimiter = line.split("<<", 1)
            values[key] = "\n".join(iter(lambda: next(lines), delimiter))
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_github_actions_groups_summary_and_outputs(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    repo = f"{stack.registry_a}/{repo_name}"
    proc, summary, outputs = _github_run(stack, _source(tmp_path, stack), tmp_path, repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # --json stays clean on stdout
    digest = tools.digest(f"{repo}:1.4.0")
    assert report["digest"] == digest
    log = proc.stderr.splitlines()
    for step in ("build+assemble", "push", "promote"):
        assert any(re.fullmatch(rf"::group::{re.escape(step)} \(\d+\.\d s\)", line) for line in log), log
    assert log.count("::endgroup::") == sum(line.startswith("::group::") for line in log)
    assert "::error" not in proc.stderr
    text = summary.read_text()
    assert text.startswith("earlier step's summary\n")  # appended, not replaced
    assert f"| `{repo}` | published | `1.4.0`, `1.4`, `1`, `latest` | `{digest}` |" in text
    for platform in report["platforms"]:
        assert f"| {platform['platform']} | `{platform['digest']}` |" in text
    values = _outputs(outputs.read_text())
    assert values["earlier"] == "1" and values["digest"] == digest and values["version"] == "1.4.0"
    assert values["tags"].splitlines() == [f"{repo}:{t}" for t in ("1.4.0", "1.4", "1", "latest")]
    assert values["image"] == f"{repo}@{digest}" and values["report"] == f"{tmp_path / 'dist'}/report.json"
    assert (tmp_path / "dist" / "summary.md").read_text() in text  # the file module mode's workflow appends


def test_github_actions_annotates_a_failed_platform_build(stack: Stack, tools: Tools, repo_name: str, tmp_path: Path) -> None:
    repo = f"{stack.registry_a}/{repo_name}"
    body = 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN [ "$(uname -m)" != aarch64 ] || { echo "no arm64 here" >&2; exit 7; }\n'
    proc, summary, outputs = _github_run(stack, _source(tmp_path, stack, body), tmp_path, repo)
    assert proc.returncode == 3, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("::error ")]
    assert errors and errors[0].startswith("::error title=Shipyard build linux/arm64::build for linux/arm64 failed"), proc.stderr
    assert any(line.startswith("::group::build+assemble") and "failed" in line for line in proc.stderr.splitlines())
    assert "shipyard: error: build for linux/arm64 failed" in proc.stderr
    assert "FAILED" in summary.read_text() and "build for linux/arm64 failed" in summary.read_text()
    assert _outputs(outputs.read_text())["ok"] == "false"
    assert tools.tags(repo) == set()


def test_a_dockerfile_syntax_error_is_exit_3_with_one_line_on_stderr(stack: Stack, repo_name: str, tmp_path: Path) -> None:
    source = _source(tmp_path, stack, "FRM scratch\n")
    command = [sys.executable, "-m", "shipyard", *_args(stack, source, tmp_path / "dist", f"{stack.registry_a}/{repo_name}", "--json")]
    proc = subprocess.run(command, capture_output=True, text=True, env=_env(), check=False, timeout=900)
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("shipyard: error: ")]
    assert len(errors) == 1, proc.stderr
    assert "dockerfile parse error on line 1: unknown instruction: FRM" in errors[0]
    assert "traceparent" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["ok"] is False  # the report, for --json users
