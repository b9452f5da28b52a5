"""The one writer of the output directory (``--out``, ``dist/`` by default): every file a release
or a build writes there goes through it, and it records each one (the report lists them)."""

from __future__ import annotations

import shutil
from pathlib import Path


class OutputDir:
    """Writes under ``root`` (nothing when there is none: ``dagger call`` without ``--out``) and
    records what it wrote, relative to ``root``, in the order written."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._written: dict[str, None] = {}

    @property
    def files(self) -> tuple[str, ...]:
        """The files written, relative to the root, each once, in the order first written."""
        return tuple(self._written)

    def write_text(self, name: str, text: str) -> Path | None:
        """``text`` as the file ``name`` (folders made as needed); its path, or None without a root."""
        if self.root is None:
            return None
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self._record(path)
        return path

    def copy_tree(self, source: Path, name: str) -> Path | None:
        """The folder ``source`` as ``name``, replacing what was there; its path, or None without a root."""
        if self.root is None:
            return None
        dest = self.root / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest)
        for path in sorted(p for p in dest.rglob("*") if p.is_file()):
            self._record(path)
        return dest

    def copy_tree_into(self, source: Path, names: tuple[str, ...]) -> None:
        """The entries ``names`` of the folder ``source`` into the root itself, replacing those
        entries only (the root may hold other files: the engine log)."""
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for entry in names:
            target = self.root / entry
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        shutil.copytree(source, self.root, dirs_exist_ok=True)
        for entry in names:
            target = self.root / entry
            for path in sorted(p for p in ([target] if target.is_file() else target.rglob("*")) if p.is_file()):
                self._record(path)

    def remove(self, name: str) -> None:
        """Remove the file ``name`` if it is there (a stale one an earlier run left would mislead)."""
        if self.root is None:
            return
        (self.root / name).unlink(missing_ok=True)
        self._written.pop(name, None)

    def _record(self, path: Path) -> None:
        assert self.root is not None
        self._written[path.relative_to(self.root).as_posix()] = None
