"""Git metadata of the source: commit, commit time and origin feed the plan's labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipyard.source import https_url, read_source


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


def test_module_mode_reads_head_through_packed_refs_and_leaves_a_packed_commit_time_unknown() -> None:
    import anyio

    from shipyard.source import read_git_files

    sha = "860c1904a1ce19322e91ac35af1ab07466440c37"
    files = {
        "HEAD": b"ref: refs/heads/main\n",
        "packed-refs": f"# pack-refs with: peeled\n{sha} refs/heads/main\n".encode(),
        "config": b'[core]\n\tbare = false\n[remote "origin"]\n\turl = https://token@github.com/acme/app.git\n',
    }

    async def read(path: str) -> bytes | None:
        return files.get(path)

    info = anyio.run(read_git_files, read)
    assert (info.sha, info.commit_epoch, info.url) == (sha, None, "https://github.com/acme/app")


def test_module_mode_without_a_commit_has_no_source_info() -> None:
    import anyio

    from shipyard.source import SourceInfo, read_git_files

    async def read(path: str) -> bytes | None:
        return b"ref: refs/heads/main\n" if path == "HEAD" else None

    assert anyio.run(read_git_files, read) == SourceInfo()
