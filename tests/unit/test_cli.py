"""The ``shipyard`` command, run as a user runs it (a subprocess of ``python -m shipyard``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False)


def test_tags_json_is_exactly_one_object() -> None:
    out = run("tags", "--ref", "refs/tags/v1.2.3", "--sha", SHA, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"version": "1.2.3", "tags": ["1.2.3", "1.2", "1", "sha-860c190", "latest"], "latest": True}


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
        "type=ref,event=branch\ntype=ref,event=pr\ntype=semver,pattern={{version}}",
        "--flavor",
        "latest=auto",
    )
    assert json.loads(out.stdout) == {"version": "pr-12", "tags": ["pr-12"], "latest": False}


def test_a_single_value_option_given_twice_is_refused() -> None:
    out = run("tags", "--ref", "refs/heads/main", "--spec", "type=ref,event=branch", "--spec", "type=ref,event=pr")
    assert out.returncode == 2 and "argument --spec: is given more than once; give it once (one value with one rule per line)" in out.stderr


def test_no_tags_is_an_error_on_stderr_not_an_empty_answer() -> None:
    out = run("tags", "--ref", "refs/heads/main", "--spec", "type=semver,pattern={{version}}", "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("shipyard: error: --ref 'refs/heads/main': gives no image tag with these tag rules")


def test_missing_or_empty_ref_is_an_error_on_stderr() -> None:
    for args in ([], ["--ref", ""]):
        out = run("tags", *args, "--sha", SHA, "--json")
        assert out.returncode == 2 and out.stdout == "" and "--ref '': is empty, so there is no tag" in out.stderr, out.stderr


def test_bad_input_exits_2_with_an_actionable_message() -> None:
    out = run("tags", "--ref", "refs/tags/v1", "--spec", "type=semver")
    assert out.returncode == 2
    assert "needs a pattern" in out.stderr and "pattern={{version}}" in out.stderr
    assert out.stdout == ""


def test_plan_dry_run_json() -> None:
    out = run("plan", "--tag", "v1.2.3", "--image", "127.0.0.1:5000/app", "--platform", "linux/amd64,linux/arm/v7", "--json")
    data = json.loads(out.stdout)
    assert data["platforms"] == ["linux/amd64", "linux/arm/v7"]
    assert [s["name"] for s in data["steps"]][-3:] == ["sbom", "provenance", "promote"]


PASTED_TAGS = """\
# from .github/workflows/release.yml
type=schedule
type=ref,event=branch
type=ref,event=pr
type=semver,pattern={{version}}
type=semver,pattern={{major}}.{{minor}}
type=semver,pattern={{major}},enable=true
type=sha,prefix=sha-,format=short
"""


def test_a_whole_pasted_block_works_as_one_argument() -> None:
    out = run(
        "tags", "--ref", "refs/tags/v3.4.5", "--sha", SHA, "--json", "--spec", PASTED_TAGS, "--flavor", "latest=auto\nprefix=\nsuffix="
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"version": "3.4.5", "tags": ["3.4.5", "3.4", "3", "sha-860c190", "latest"], "latest": True}


def test_bad_lines_in_a_pasted_block_are_named() -> None:
    out = run("tags", "--ref", "refs/tags/v3.4.5", "--spec", PASTED_TAGS + "type=raw,value={{nope}}\n")
    assert out.returncode == 2 and "type=raw,value={{nope}}" in out.stderr and "unknown expression {{nope}}" in out.stderr


def test_dates_come_from_source_date_epoch_or_the_commit_time(tmp_path: Path) -> None:
    spec = "type=raw,value=nightly-{{date 'YYYYMMDD-HHmm' tz='Asia/Tokyo'}}"
    out = run("tags", "--ref", "refs/heads/main", "--spec", spec, "--source-date-epoch", "1578616200", "--json")
    assert json.loads(out.stdout)["tags"] == ["nightly-20200110-0930"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    env = {"GIT_AUTHOR_DATE": "2021-02-03T04:05:06Z", "GIT_COMMITTER_DATE": "2021-02-03T04:05:06Z"}
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(tmp_path), *identity, "commit", "-q", "--allow-empty", "-m", "x"], check=True, env=os.environ | env)
    out = run("tags", "--ref", "refs/heads/main", "--spec", "type=raw,value={{commit_date 'YYYY-MM-DD'}}", "--source", str(tmp_path))
    assert out.stdout.split() == ["2021-02-03"]


def test_a_date_without_a_clock_is_an_error_not_the_wall_clock(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    spec = "type=raw,value=n-{{date 'YYYYMMDD'}}"
    out = subprocess.run(
        [sys.executable, "-m", "shipyard", "tags", "--ref", "refs/heads/main", "--source", str(tmp_path), "--spec", spec],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert out.returncode == 2 and "SOURCE_DATE_EPOCH" in out.stderr and out.stdout == ""


def test_base_ref_is_accepted() -> None:
    out = run(
        "tags", "--ref", "refs/pull/3/merge", "--event", "pull_request", "--base-ref", "develop", "--spec", "type=raw,value=to-{{base_ref}}"
    )
    assert out.stdout.split() == ["to-develop"]


def test_publish_from_a_directory_that_is_no_layout_exits_2_before_any_engine(tmp_path: Path) -> None:
    missing = run("publish", "--tag", "v1.2.3", "--from", str(tmp_path / "nowhere"), "--out", str(tmp_path / "dist"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"shipyard: error: --from '{tmp_path / 'nowhere'}': is not a directory. Pass the directory `shipyard build --out` wrote."
    )
    empty = run("publish", "--tag", "v1.2.3", "--from", str(tmp_path), "--out", str(tmp_path / "dist"))
    assert empty.returncode == 2 and "has no shipyard-build.json" in empty.stderr
    both = run("publish", "--tag", "v1.2.3", "--from", str(tmp_path), "--builder", "linux/arm64=tcp://10.0.0.5:1234")
    assert both.returncode == 2 and "--builder ['linux/arm64=tcp://10.0.0.5:1234']: cannot go with --from" in both.stderr
    assert not (tmp_path / "dist").exists()  # no engine session was opened (it would write its log there)


def test_build_offers_the_build_arguments_of_publish_and_pushes_nothing() -> None:
    out = run("build", "--help")
    assert out.returncode == 0
    for flag in ("--platform", "--dockerfile", "--build-target", "--build-arg", "--build-secret", "--sha", "--source-date-epoch"):
        assert flag in out.stdout
    assert "--runner" in out.stdout and "--out" in out.stdout
    assert "--image" not in out.stdout and "--registry-auth" not in out.stdout
