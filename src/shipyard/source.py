"""What the source's Git history says: commit, commit time and origin, for labels and tags.

This is I/O (it reads a ``.git`` directory with dulwich, a pure-Python Git implementation that
also runs inside the module's runtime, where there is no ``git``), so it lives outside the pure
``plan`` package, which only receives the values. Both doors hand commands a :class:`SourceTree`
and read Git the same way, so they agree on the commit time (and the image digest) by default.

What is read: HEAD (a branch, packed or loose, or a detached commit), the commit's committer time
(loose or packed objects; a shallow clone's tip is enough) and ``remote.origin.url``. A source that
is not a Git repository has no commit, no commit time (``SOURCE_DATE_EPOCH`` falls back to 0) and no
origin; pass ``--sha`` and ``--source-date-epoch`` for it.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dagger
from dagger import dag
from dulwich.errors import NotGitRepository
from dulwich.objects import Commit
from dulwich.repo import Repo

from shipyard.errors import InvalidInput
from shipyard.local_files import read_text_file


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


def read_git(repo: Repo) -> SourceInfo:
    """HEAD's commit, its committer time and the origin URL of an open repository."""
    try:
        sha = repo.head().decode()
        commit = repo[sha.encode()]
    except (KeyError, ValueError):  # no commit yet, or HEAD names a missing object
        return SourceInfo()
    epoch = commit.commit_time if isinstance(commit, Commit) else None
    url = ""
    with contextlib.suppress(KeyError):
        url = https_url(repo.get_config().get((b"remote", b"origin"), b"url").decode(errors="replace"))
    return SourceInfo(sha=sha, commit_epoch=epoch, url=url)


def read_source(directory: str | Path, *, search_parents: bool = True) -> SourceInfo:
    """Read HEAD of the Git checkout at ``directory`` (or, with ``search_parents``, of the
    repository it lies in); empty values when it is not one."""
    path = Path(directory)
    if not path.is_dir():
        raise InvalidInput("--source", str(directory), "is not a directory", "Point --source at the checkout to release.")
    try:
        repo = Repo.discover(str(path)) if search_parents else Repo(str(path))
    except NotGitRepository:
        return SourceInfo()
    with repo:
        return read_git(repo)


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
    """A directory on the caller's machine (the ``shipyard`` command)."""

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
    """A ``dagger.Directory`` argument (``dagger call``): its ``.git`` directory is exported into
    the module's runtime and read there the same way as on the host."""

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
        with tempfile.TemporaryDirectory(prefix="shipyard-git-") as scratch:
            await self.tree.directory(".git").export(str(Path(scratch) / ".git"))
            return read_source(scratch, search_parents=False)


# --- defaults that resolve inside Shipyard's own repository ----------------------------------
# With `dagger call -m <Shipyard>`, a DefaultPath argument resolves in the *module's* repository,
# not in the caller's directory (dagger/dagger#8790): `publish` without --source would build
# Shipyard itself and `sync-readme` without --readme would push Shipyard's README. Both refuse.

OWN_TREE_MARKER = "src/shipyard/main.py"  # with a dagger.json named "shipyard": this repository


async def is_shipyard_tree(tree: dagger.Directory) -> bool:
    """Whether ``tree`` is Shipyard's own repository (what ``DefaultPath(".")`` gives under ``-m``)."""
    if not await tree.exists(OWN_TREE_MARKER, expected_type=dagger.ExistsType.REGULAR_TYPE):
        return False
    if not await tree.exists("dagger.json", expected_type=dagger.ExistsType.REGULAR_TYPE):
        return False
    with contextlib.suppress(ValueError):
        return bool(json.loads(await tree.file("dagger.json").contents()).get("name") == "shipyard")
    return False


async def refuse_shipyard_tree(tree: dagger.Directory, *, flag: str) -> None:
    """Raise InvalidInput when ``flag`` (a directory) is Shipyard's own repository."""
    if await is_shipyard_tree(tree):
        raise InvalidInput(
            flag,
            "(default)",
            "is Shipyard's own repository, not yours (with dagger call -m, defaults resolve in the module's repository)",
            f"Pass {flag} . to release the directory you are in.",
        )


async def refuse_shipyard_readme(readme: dagger.File) -> None:
    """Raise InvalidInput when ``readme`` is Shipyard's own README (``-m`` without ``--readme``)."""
    own = dag.current_module().source()
    if not await own.exists("README.md", expected_type=dagger.ExistsType.REGULAR_TYPE):
        return
    if await readme.contents() == await own.file("README.md").contents():
        raise InvalidInput(
            "--readme",
            "(default)",
            "is Shipyard's own README (with dagger call -m, defaults resolve in the module's repository)",
            "Pass --readme README.md to publish yours.",
        )
