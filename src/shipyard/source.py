"""What the source's Git history says: commit, commit time and origin, for labels and tags.

This is I/O (it runs ``git``, or reads ``.git`` in module mode), so it lives outside the pure
``plan`` package, which only receives the values. Both doors hand commands a :class:`SourceTree`.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dagger
from dagger import dag

from shipyard.local_files import read_text_file
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


# --- the source tree a command reads: a host path (CLI) or a dagger.Directory (module) --------


class SourceTree(Protocol):
    """The ``--source`` of a command, as both doors hand it over."""

    def directory(self) -> dagger.Directory:
        """The tree for a build (inside an engine session)."""
        ...

    async def read_text(self, path: str, *, what: str) -> str | None:
        """A text file in the tree (``None`` when there is none); ``what`` names it in errors."""
        ...

    async def info(self) -> SourceInfo:
        """Commit, commit time and origin of the checkout (empty values when it is not one)."""
        ...


@dataclass(frozen=True)
class HostSource:
    """A directory on the caller's machine (the ``shipyard`` command): Git metadata from ``git``."""

    path: str

    def directory(self) -> dagger.Directory:
        return dag.host().directory(self.path)

    async def read_text(self, path: str, *, what: str) -> str | None:
        file = Path(self.path) / path
        return read_text_file(str(file), what=what) if file.is_file() else None

    async def info(self) -> SourceInfo:
        return read_source(self.path)


@dataclass(frozen=True)
class ModuleSource:
    """A ``dagger.Directory`` argument (``dagger call``): Git metadata read from its ``.git``
    directory's files (the module's runtime has no ``git``); see :func:`read_git_files`."""

    tree: dagger.Directory

    def directory(self) -> dagger.Directory:
        return self.tree

    async def read_text(self, path: str, *, what: str) -> str | None:
        if not await self.tree.exists(path, expected_type=dagger.ExistsType.REGULAR_TYPE):
            return None
        return await self.tree.file(path).contents()

    async def info(self) -> SourceInfo:
        if not await self.tree.exists(".git", expected_type=dagger.ExistsType.DIRECTORY_TYPE):
            return SourceInfo()
        git = self.tree.directory(".git")

        async def read(path: str) -> bytes | None:
            if not await git.exists(path, expected_type=dagger.ExistsType.REGULAR_TYPE):
                return None
            with tempfile.TemporaryDirectory(prefix="shipyard-git-") as scratch:
                local = await git.file(path).export(str(Path(scratch) / "f"))
                return Path(local).read_bytes()

        return await read_git_files(read)


async def read_git_files(read: Callable[[str], Awaitable[bytes | None]]) -> SourceInfo:
    """HEAD's commit, its committer time and the origin URL, from a ``.git`` directory's files.

    ``read(path)`` returns a file under ``.git`` (``None`` if missing). Follows HEAD through loose
    refs and ``packed-refs``; the commit time comes from a loose commit object only (a packed
    commit leaves it unknown: pass ``--source-date-epoch``).
    """
    head = (await read("HEAD") or b"").decode(errors="replace").strip()
    sha = head
    if head.startswith("ref: "):
        ref = head[5:].strip()
        sha = (await read(ref) or b"").decode(errors="replace").strip()
        if not sha:
            for line in (await read("packed-refs") or b"").decode(errors="replace").splitlines():
                value, _, name = line.partition(" ")
                if name.strip() == ref:
                    sha = value
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        return SourceInfo()
    epoch = None
    loose = await read(f"objects/{sha[:2]}/{sha[2:]}")
    if loose is not None:
        with contextlib.suppress(zlib.error):
            match = re.search(rb"\ncommitter [^\n]*> (\d+) [+-]\d{4}\n", zlib.decompress(loose))
            epoch = int(match.group(1)) if match else None
    return SourceInfo(sha=sha, commit_epoch=epoch, url=https_url(_origin(await read("config") or b"")))


def _origin(config: bytes) -> str:
    """The ``url`` of ``[remote "origin"]`` in a Git config file, else empty."""
    section = ""
    for raw in config.decode(errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == '[remote "origin"]' and line.partition("=")[0].strip() == "url":
            return line.partition("=")[2].strip()
    return ""
