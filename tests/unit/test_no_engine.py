"""Without an engine: bad input is exit 2 naming the input, and nothing is written (not even an
existing ``dist/engine.log`` emptied); good input is a clear engine error, never "a bug".

These run the real ``shipyard`` command against engine addresses where nothing listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "app"


def _no_listener() -> str:
    """A loopback TCP address that refuses connections (a port just bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def _publish(tmp_path: Path, runner_host: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "dist"
    out.mkdir(exist_ok=True)
    log = out / "engine.log"
    log.write_text("an earlier release's engine log\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_EXPERIMENTAL_DAGGER", "DAGGER_SESSION"))}
    env["_EXPERIMENTAL_DAGGER_RUNNER_HOST"] = runner_host
    command = [sys.executable, "-m", "shipyard", "publish", "--tag", "v1.2.3", "--source", str(FIXTURE), "--out", str(out), *args]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=120)
    return proc, log


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--platform", "linux/foo", "--image", "127.0.0.1:5000/it/app"], "--platform 'linux/foo'"),
        (["--image", "127.0.0.1:5000/it/bad name"], "--image"),
        (["--image", "127.0.0.1:5000/it/app", "--image", "127.0.0.1:5000/it/app"], "--image"),
    ],
)
def test_bad_input_without_an_engine_is_exit_2_and_leaves_the_engine_log(tmp_path: Path, args: list[str], named: str) -> None:
    proc, log = _publish(tmp_path, "unix:///nonexistent/engine.sock", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shipyard: error: ") and named in lines[0], proc.stderr
    assert "bug" not in proc.stderr and "Traceback" not in proc.stderr
    assert log.read_text() == "an earlier release's engine log\n"


@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_no_engine_with_good_input_is_a_clear_engine_error(tmp_path: Path, where: str) -> None:
    address = "unix:///nonexistent/engine.sock" if where == "unix" else _no_listener()
    proc, log = _publish(tmp_path, address, "--image", "127.0.0.1:5000/it/app", "--platform", "linux/amd64")
    assert proc.returncode == 3, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("shipyard: error: no Dagger engine: tried the engine at " + address), message
    assert "_EXPERIMENTAL_DAGGER_RUNNER_HOST" in message and "_EXPERIMENTAL_DAGGER_CLI_BIN" in message  # how to point at one
    assert "bug" not in proc.stderr and "Traceback" not in proc.stderr
    assert log.read_text() == "an earlier release's engine log\n"
    assert proc.stdout == ""


SEED_TAGS = """type=semver,pattern={{version}}
type=semver,pattern={{major}}.{{minor}}
type=semver,pattern={{major}}
type=sha
type=raw,value=latest,enable={{is_default_branch}}"""


@pytest.mark.parametrize(
    "args",
    [
        ["--spec", SEED_TAGS, "--image", "127.0.0.1:5000/it/app"],  # the tags: block as one value
        ["--spec", "type=semver,pattern={{version}}", "--image", "127.0.0.1:5000/it/app"],
        ["--flavor", "latest=false", "--image", "127.0.0.1:5000/it/app"],
        ["--image", "127.0.0.1:5000/it/app", "--image", "127.0.0.1:5000/it/mirror,optional"],
    ],
)
def test_good_tag_rules_and_target_options_pass_the_input_checks(tmp_path: Path, args: list[str]) -> None:
    """The checks before the engine read --spec/--flavor as the one block the release reads, and
    --target with its options: good values get as far as the (absent) engine."""
    proc, _ = _publish(tmp_path, "unix:///nonexistent/engine.sock", "--platform", "linux/amd64", *args)
    assert proc.returncode == 3, proc.stderr
    assert "no Dagger engine" in proc.stderr.strip().splitlines()[-1], proc.stderr


def test_exit_codes_are_documented_in_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "shipyard", "publish", "--help"], capture_output=True, text=True, check=True)
    text = " ".join(proc.stdout.split())
    assert "Exit codes: 0 done; 2 bad input" in text and "3 the release failed" in text and "130/143 interrupted" in text
    assert "--progress {auto,tty,plain,quiet}" in text
