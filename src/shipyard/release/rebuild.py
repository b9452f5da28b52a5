"""Why a rebuild differs from the published release: the config fields and the files.

``rebuild-check`` compares index digests; when a platform differs, the two images are read
(``steps/explain.py``) into what is compared here, without I/O: the image configs field by field
(``history[3].created_by``, ``config.Env``) and, for each layer whose ``diff_id`` differs, the
files (path, type, size, mode, owner, time, link target, content hash). A user finds the
non-deterministic step from the file it wrote, e.g. ``/built-at`` (``RUN date > /built-at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

MAX_FILES = 50  # files listed per layer in the text report (the JSON report has them all)
MAX_FIELDS = 30  # config fields listed in the text report


@dataclass(frozen=True)
class FileEntry:
    """One entry of a layer, as a rebuild check compares it."""

    path: str
    kind: str  # file, dir, symlink, hardlink, device, fifo
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    link: str = ""
    sha256: str = ""  # of a regular file's content

    def fields(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("path")
        out["mode"] = oct(self.mode)
        return out


def diff_files(published: Iterable[FileEntry], rebuilt: Iterable[FileEntry]) -> list[dict[str, Any]]:
    """The entries that differ between two layers, by path: added, removed, or the fields changed."""
    was = {e.path: e for e in published}
    now = {e.path: e for e in rebuilt}
    out: list[dict[str, Any]] = []
    for path in sorted(set(was) | set(now)):
        a, b = was.get(path), now.get(path)
        if a is None:
            assert b is not None
            out.append({"path": path, "change": "added", "rebuilt": b.fields()})
        elif b is None:
            out.append({"path": path, "change": "removed", "published": a.fields()})
        else:
            fa, fb = a.fields(), b.fields()
            changed = {k: [fa[k], fb[k]] for k in fa if fa[k] != fb[k]}
            if changed:
                out.append({"path": path, "change": "changed", "fields": changed})
    return out


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON value as ``path -> leaf`` (``config.Env[1]``), so two configs compare field by field."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out or {prefix: {}}
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: value}


def diff_config(published: Mapping[str, Any], rebuilt: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The config fields that differ: ``{"field", "published", "rebuilt"}`` (None: absent)."""
    was, now = flatten(published), flatten(rebuilt)
    return [
        {"field": key, "published": was.get(key), "rebuilt": now.get(key)}
        for key in sorted(set(was) | set(now))
        if was.get(key) != now.get(key)
    ]


@dataclass(frozen=True)
class LayerPair:
    """The layers at one position of the two images (None: that image has fewer layers)."""

    index: int
    published: str | None  # diff_id
    rebuilt: str | None
    files: tuple[dict[str, Any], ...] = ()  # diff_files of the two, when they differ

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "published": self.published, "rebuilt": self.rebuilt, "files": list(self.files)}


def differing_layers(published: Sequence[str], rebuilt: Sequence[str]) -> list[int]:
    """The layer positions whose ``diff_id`` differs (or that only one image has)."""
    count = max(len(published), len(rebuilt))
    return [i for i in range(count) if (published[i] if i < len(published) else None) != (rebuilt[i] if i < len(rebuilt) else None)]


def platform_difference(platform: str, config: Sequence[Mapping[str, Any]], layers: Sequence[LayerPair]) -> dict[str, Any]:
    """One differing platform, as the report keeps it."""
    return {"platform": platform, "config": list(config), "layers": [layer.to_dict() for layer in layers]}


def difference_lines(difference: Mapping[str, Any]) -> list[str]:
    """The text report's lines for one differing platform."""
    platform = difference["platform"]
    lines = [f"  {platform}: why it differs"]
    if difference.get("error"):
        return [*lines, f"    could not compare: {difference['error']}"]
    fields = [f for f in difference["config"] if not str(f["field"]).startswith("rootfs.diff_ids")]
    for f in fields[:MAX_FIELDS]:
        lines.append(f"    config {f['field']}: published {_short(f['published'])}, rebuilt {_short(f['rebuilt'])}")
    if len(fields) > MAX_FIELDS:
        lines.append(f"    … and {len(fields) - MAX_FIELDS} more config field(s) (see --json)")
    for layer in difference["layers"]:
        lines.append(f"    layer {layer['index']}: published {_short(layer['published'])}, rebuilt {_short(layer['rebuilt'])}")
        for entry in layer["files"][:MAX_FILES]:
            lines.append(f"      {platform} {entry['path']}: {_file_change(entry)}")
        if len(layer["files"]) > MAX_FILES:
            lines.append(f"      … and {len(layer['files']) - MAX_FILES} more file(s) (see --json)")
    if not fields and not difference["layers"]:
        lines.append("    the configs and layers are the same; the manifests differ (annotations or media types)")
    return lines


def _file_change(entry: Mapping[str, Any]) -> str:
    if entry["change"] != "changed":
        return f"{entry['change']} only in the {'rebuild' if entry['change'] == 'added' else 'published image'}"
    parts = []
    for name, (was, now) in entry["fields"].items():
        label = "content" if name == "sha256" else ("time" if name == "mtime" else name)
        parts.append(f"{label} {_short(was)} -> {_short(now)}")
    return "; ".join(parts)


def _short(value: object) -> str:
    text = str(value)
    if text.startswith("sha256:"):
        return text[:19]
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:12]
    return text if len(text) <= 60 else text[:57] + "..."
