"""Where this machine pushed blobs before, so a push to a new repository mounts them.

A release to a repository that is new to a registry (a new image, a new team's repository) would
upload every layer, the base image's included, although the registry holds them in a repository
this machine pushed to before. Docker's push keeps the same record for the same reason: with it,
a blob the new repository lacks is mounted from the last repository of that registry that
received it (``POST …/blobs/uploads/?mount=<digest>&from=<repository>``: no bytes sent), and
uploaded only when the registry refuses (the credentials cannot read that repository, or it was
deleted): a hint, never needed for a correct push.

The record is a small JSON file in the user's cache (``$XDG_CACHE_HOME/shipyard/blob-locations.json``):
registry -> digest -> the repositories that received it, newest first, a few per digest and a
bounded number of digests per registry. Several releases at once each merge their record into
what is on disk and replace the file whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

REPOSITORIES_PER_BLOB = 3
BLOBS_PER_REGISTRY = 4000


def default_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipyard" / "blob-locations.json"


class BlobLocations:
    """registry -> digest -> repositories that received it (newest first), read from ``path``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: dict[str, dict[str, list[str]]] = self._read()
        self._new: dict[str, dict[str, list[str]]] = {}

    def _read(self) -> dict[str, dict[str, list[str]]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(registry): {str(d): [str(r) for r in repos if isinstance(r, str)] for d, repos in blobs.items() if isinstance(repos, list)}
            for registry, blobs in data.items()
            if isinstance(blobs, dict)
        }

    def source(self, registry: str, digest: str, repository: str) -> str | None:
        """The repository of ``registry`` that received ``digest`` last, other than ``repository``."""
        for candidate in self._known.get(registry, {}).get(digest, []):
            if candidate != repository:
                return candidate
        return None

    def record(self, registry: str, repository: str, digests: Iterable[str]) -> None:
        """``repository`` of ``registry`` holds these blobs now (pushed or found there)."""
        for known in (self._known, self._new):
            blobs = known.setdefault(registry, {})
            for digest in digests:
                blobs[digest] = [repository, *[r for r in blobs.get(digest, []) if r != repository]][:REPOSITORIES_PER_BLOB]

    def save(self) -> None:
        """Merge what this release recorded into the file on disk (best effort: a record that
        cannot be written costs a later push an upload, nothing else)."""
        if self.path is None or not self._new:
            return
        merged = self._read()
        for registry, blobs in self._new.items():
            into = merged.setdefault(registry, {})
            for digest, repositories in blobs.items():
                previous = into.pop(digest, [])  # re-inserted last: the newest digests are kept
                into[digest] = list(dict.fromkeys([*repositories, *previous]))[:REPOSITORIES_PER_BLOB]
            for digest in list(into)[: max(0, len(into) - BLOBS_PER_REGISTRY)]:
                del into[digest]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            part = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
            part.write_text(json.dumps(merged))
            part.replace(self.path)
        except OSError:
            return
