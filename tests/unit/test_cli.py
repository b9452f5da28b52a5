"""The ``shipyard`` command, run as a user runs it (a subprocess of ``python -m shipyard``)."""

from __future__ import annotations

import json
import subprocess
import sys

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False)


def test_tags_json_is_exactly_one_object() -> None:
    out = run("tags", "--ref", "refs/tags/v1.2.3", "--sha", SHA, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"version": "1.2.3", "tags": ["1.2.3", "1.2", "1", "sha-860c190", "latest"]}


def test_tags_with_pasted_metadata_action_block() -> None:
    out = run(
        "tags",
        "--ref",
        "refs/pull/12/merge",
        "--sha",
        SHA,
        "--event",
        "pull_request",
        "--json",
        "--spec",
        "type=ref,event=branch",
        "--spec",
        "type=ref,event=pr",
        "--spec",
        "type=semver,pattern={{version}}",
        "--flavor",
        "latest=auto",
    )
    assert json.loads(out.stdout) == {"version": "pr-12", "tags": ["pr-12"]}


def test_no_tags_gives_null_version() -> None:
    out = run("tags", "--ref", "refs/heads/main", "--spec", "type=semver,pattern={{version}}", "--json")
    assert json.loads(out.stdout) == {"version": None, "tags": []}


def test_bad_input_exits_2_with_an_actionable_message() -> None:
    out = run("tags", "--ref", "refs/tags/v1", "--spec", "type=semver")
    assert out.returncode == 2
    assert "needs a pattern" in out.stderr and "pattern={{version}}" in out.stderr
    assert out.stdout == ""


def test_plan_dry_run_json() -> None:
    out = run("plan", "--tag", "v1.2.3", "--target", "127.0.0.1:5000/app", "--platform", "linux/amd64,linux/arm/v7", "--json")
    data = json.loads(out.stdout)
    assert data["platforms"] == ["linux/amd64", "linux/arm/v7"]
    assert [s["name"] for s in data["steps"]][-2:] == ["promote-tags", "verify"]
