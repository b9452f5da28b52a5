"""An OCI image layout on local disk, the one place that knows its shape (go-containerregistry's
``pkg/v1/layout``): ``oci-layout``, ``index.json`` and ``blobs/<algorithm>/<hex>``.

The release is assembled into one (steps/assemble.py), pushed from it (steps/push.py), checked
and repacked when ``publish --from`` reads what ``build`` wrote (steps/layouts.py), compared by
``--explain`` (steps/explain.py); each asks this type where a blob is rather than building the
path itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.values.refs import Digest

MARKER = b'{"imageLayoutVersion":"1.0.0"}'  # the ``oci-layout`` file
INDEX = "index.json"
_CHUNK = 1 << 20


def sha256_of(path: Path) -> Digest:
    """The ``sha256`` digest of a file's bytes, read in chunks."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return Digest("sha256", sha.hexdigest())


@dataclass(frozen=True)
class OciLayout:
    """The layout rooted at ``root``; blobs are content-addressed, so each is written once."""

    root: Path

    @staticmethod
    def blob_name(digest: str | Digest) -> str:
        """``blobs/sha256/<hex>``: where a blob lives, relative to the root (and in a tarball of
        the layout). A malformed digest is :class:`~shipyard.errors.InvalidInput`."""
        parsed = digest if isinstance(digest, Digest) else Digest.parse(digest)
        return f"blobs/{parsed.algorithm}/{parsed.hex}"

    def blob_path(self, digest: str | Digest) -> Path:
        return self.root / self.blob_name(digest)

    def blobs(self) -> Iterator[tuple[Digest, Path]]:
        """Every ``sha256`` blob present, by name (what its bytes should hash to), sorted."""
        folder = self.root / "blobs" / "sha256"
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            yield Digest("sha256", path.name), path

    def read_blob(self, digest: str | Digest) -> bytes:
        return self.blob_path(digest).read_bytes()

    def read_json(self, digest: str | Digest) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.read_blob(digest))
        return data

    def write_blob(self, data: bytes) -> tuple[Digest, bool]:
        """Store ``data`` under its ``sha256``; (its digest, whether it was new)."""
        digest = Digest("sha256", hashlib.sha256(data).hexdigest())
        path = self.blob_path(digest)
        if path.exists():
            return digest, False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return digest, True

    def copy_blob(self, source: Path, digest: str | Digest | None = None) -> tuple[Digest, bool]:
        """Store a file's bytes under ``digest`` (hashed here when not given); (digest, whether new)."""
        named = sha256_of(source) if digest is None else digest if isinstance(digest, Digest) else Digest.parse(digest)
        path = self.blob_path(named)
        if path.exists():
            return named, False
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        return named, True

    @property
    def index_path(self) -> Path:
        return self.root / INDEX

    def read_index(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.index_path.read_text())
        return data

    def write_index(self, index: bytes) -> None:
        """Write ``index.json`` (and the ``oci-layout`` marker that makes the folder a layout)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_bytes(MARKER)
        self.index_path.write_bytes(index)
