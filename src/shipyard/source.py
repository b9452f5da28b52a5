"""What the source's Git history says: commit, commit time and origin, for labels and tags.

This is I/O (it runs ``git``), so it lives outside the pure ``plan`` package, which only
receives the values.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shipyard.plan.errors import InvalidInput


@dataclass(frozen=True)
class SourceInfo:
    sha: str = ""
    commit_epoch: int | None = None
    url: str = ""


def https_url(remote: str) -> str:
    """``git@github.com:acme/app.git`` or ``https://user@host/acme/app.git`` -> ``https://host/acme/app``."""
    remote = remote.strip()
    match = re.fullmatch(r"[\w.-]+@([\w.-]+):(.+?)(?:\.git)?/?", remote)
    if match:
        return f"https://{match.group(1)}/{match.group(2)}"
    match = re.fullmatch(r"(?:https?|ssh|git)://(?:[^@/]+@)?([^/]+)/(.+?)(?:\.git)?/?", remote)
    if match:
        host = match.group(1).split(":")[0] if remote.startswith("ssh://") else match.group(1)
        return f"https://{host}/{match.group(2)}"
    return ""


def read_source(directory: str | Path) -> SourceInfo:
    """Read HEAD of the Git checkout at ``directory``; empty values when it is not one."""
    path = Path(directory)
    if not path.is_dir():
        raise InvalidInput("--source", str(directory), "is not a directory", "Point --source at the checkout to release.")

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("log", "-1", "--format=%H %ct")
    if not head:
        return SourceInfo()
    sha, epoch = head.split()
    return SourceInfo(sha=sha, commit_epoch=int(epoch), url=https_url(git("remote", "get-url", "origin")))
