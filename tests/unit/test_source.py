"""Git metadata of the source: commit, commit time and origin feed the plan's labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipyard.source import SourceInfo, https_url, read_source


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:acme/app.git", "https://github.com/acme/app"),
        ("https://github.com/acme/app.git", "https://github.com/acme/app"),
        ("https://x-access-token:secret@github.com/acme/app", "https://github.com/acme/app"),
        ("ssh://git@gitlab.example.com:2222/group/app.git", "https://gitlab.example.com/group/app"),
        ("/srv/git/app", ""),
    ],
)
def test_origin_becomes_a_public_https_url_without_credentials(remote: str, url: str) -> None:
    assert https_url(remote) == url


def make_repo(path: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": "2024-05-01T12:00:00Z",
        "GIT_COMMITTER_DATE": "2024-05-01T12:00:00Z",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q"], ["remote", "add", "origin", "git@github.com:acme/app.git"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def plan_of(source: Path, env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "shipyard", "plan", "--tag", "v1.0.0", "--source", str(source), "--json"]
    data: dict[str, Any] = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    return data


def test_plan_takes_revision_created_and_source_from_git(tmp_path: Path) -> None:
    sha = make_repo(tmp_path)
    plan = plan_of(tmp_path, {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"})
    assert plan["annotations"] == {
        "org.opencontainers.image.created": "2024-05-01T12:00:00Z",
        "org.opencontainers.image.revision": sha,
        "org.opencontainers.image.source": "https://github.com/acme/app",
        "org.opencontainers.image.version": "1.0.0",
    }
    assert f"sha-{sha[:7]}" in plan["tags"]


def test_source_date_epoch_overrides_the_commit_time(tmp_path: Path) -> None:
    make_repo(tmp_path)
    plan = plan_of(tmp_path, {**os.environ, "SOURCE_DATE_EPOCH": "86400"})
    assert plan["annotations"]["org.opencontainers.image.created"] == "1970-01-02T00:00:00Z"


def test_a_directory_without_git_gives_no_metadata(tmp_path: Path) -> None:
    info = read_source(tmp_path)
    assert info.sha == "" and info.commit_epoch is None


def test_missing_source_directory_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shipyard", "plan", "--tag", "v1.0.0", "--source", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "is not a directory" in out.stderr


GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
GIT_ENV |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(path: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=True, env=env).stdout.strip()


def test_packed_objects_and_packed_refs_still_give_the_commit_time(tmp_path: Path) -> None:
    sha = make_repo(tmp_path)
    git(tmp_path, "gc", "-q", "--aggressive")
    git(tmp_path, "pack-refs", "--all")
    assert not list((tmp_path / ".git" / "objects").glob("??/*")), "git gc left loose objects"
    assert read_source(tmp_path, search_parents=False) == SourceInfo(sha=sha, commit_epoch=1714564800, url="https://github.com/acme/app")


def test_a_shallow_clone_reads_its_tip(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    make_repo(origin)
    git(origin, "commit", "-q", "--allow-empty", "-m", "second")
    tip = git(origin, "rev-parse", "HEAD")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    assert (clone / ".git" / "shallow").is_file()
    info = read_source(clone, search_parents=False)
    assert (info.sha, info.url) == (tip, "")  # a file:// origin has no public https URL
    assert info.commit_epoch == int(git(origin, "log", "-1", "--format=%ct"))


def test_a_detached_head_at_an_annotated_tag_reads_the_commit(tmp_path: Path) -> None:
    sha = make_repo(tmp_path)
    git(tmp_path, "tag", "-a", "v1.2.3", "-m", "v1.2.3")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "after")
    git(tmp_path, "-c", "advice.detachedHead=false", "checkout", "-q", "v1.2.3")
    git(tmp_path, "gc", "-q")
    info = read_source(tmp_path, search_parents=False)
    assert (info.sha, info.commit_epoch) == (sha, 1714564800)


def test_a_repository_without_commits_gives_no_metadata(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    assert read_source(tmp_path) == SourceInfo()


def test_the_cli_finds_the_repository_a_subdirectory_lies_in(tmp_path: Path) -> None:
    sha = make_repo(tmp_path)
    (tmp_path / "app").mkdir()
    assert read_source(tmp_path / "app").sha == sha
    assert read_source(tmp_path / "app", search_parents=False) == SourceInfo()
