"""Platform images built apart and released together: ``build`` writes them, ``publish --from`` takes them.

A CI matrix builds each platform on its own runner (``shipyard build --platform …``), which
writes the normalised platform images as one OCI layout plus :data:`RECORD_FILE`, the
:class:`BuildRecord` of what was built from what. One final job runs ``publish --from DIR …``:
the layouts must belong together (:func:`check_layouts`) before anything is assembled or pushed.

Pure: the record's model, the checks and the provenance entries; reading blobs is
``steps/layouts.py``'s job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shipyard.errors import InvalidInput
from shipyard.tagging.labels import FALLBACK_EPOCH
from shipyard.values.platforms import Platform, parse_platform
from shipyard.values.refs import Digest

RECORD_FILE = "shipyard-build.json"
RECORD_FORMAT = "shipyard-build/v1"
_FLAG = "--from"
_REBUILD = "Build every platform of the release with the same commit, --source-date-epoch, --dockerfile, --build-target and --build-arg."


class LayoutImage(BaseModel):
    """One platform image of a layout: its manifest's digest in the layout's ``index.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    platform: str
    digest: str


class BuildRecord(BaseModel):
    """What one ``build`` wrote and from what (``shipyard-build.json`` beside the layout).

    Build secrets are recorded by id only (their names), never by value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: str = RECORD_FORMAT
    images: tuple[LayoutImage, ...]
    commit: str
    source_url: str
    source_date_epoch: int
    dockerfile: str
    dockerfile_digest: str  # sha256 of the Dockerfile's text
    target: str
    build_args: dict[str, str]
    build_secrets: tuple[str, ...]
    runner: str  # who built it, as given with --runner (e.g. a CI runner label)
    engine: str  # the engine's address, or "default"
    engine_version: str
    shipyard_version: str

    @property
    def platforms(self) -> tuple[Platform, ...]:
        return tuple(parse_platform(i.platform) for i in self.images)

    def dumps(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def parse_build_record(text: str, where: str) -> BuildRecord:
    """The record of the layout at ``where``; a record that is not one raises InvalidInput."""
    fix = f"Pass a directory written by `shipyard build` (it holds {RECORD_FILE} beside the OCI layout)."
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(_FLAG, where, f"{RECORD_FILE} is not JSON ({exc.msg})", fix) from None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise InvalidInput(_FLAG, where, f"{RECORD_FILE} is not a {RECORD_FORMAT} record (format {found!r})", fix)
    try:
        record = BuildRecord.model_validate(data)
        _ = record.platforms
    except (ValidationError, InvalidInput) as exc:
        raise InvalidInput(_FLAG, where, f"{RECORD_FILE} is not valid ({_first_problem(exc)})", fix) from None
    return record


def _first_problem(exc: ValidationError | InvalidInput) -> str:
    if isinstance(exc, InvalidInput):
        return str(exc)
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def resolve_epoch(source_date_epoch: int | None, commit_epoch: int | None) -> int:
    """The epoch a build stamps: ``--source-date-epoch``, else the commit time, else the fallback
    (the same rule as the release plan's)."""
    if source_date_epoch is not None:
        return source_date_epoch
    return commit_epoch if commit_epoch is not None else FALLBACK_EPOCH


@dataclass(frozen=True)
class ReleaseInputs:
    """What ``publish`` itself would build from: the layouts must have been built from the same."""

    platforms: tuple[Platform, ...]
    commit: str  # empty when publish does not know its commit (then the layouts' is taken)
    source_date_epoch: int
    dockerfile: str
    dockerfile_digest: str
    target: str
    build_args: Mapping[str, str] = field(default_factory=dict)


# (the record's field, how a message names it, how a value is shown)
_SAME: tuple[tuple[str, str], ...] = (
    ("commit", "commit"),
    ("source_date_epoch", "source date epoch"),
    ("dockerfile", "Dockerfile"),
    ("dockerfile_digest", "Dockerfile text (sha256)"),
    ("target", "build target"),
    ("build_args", "build arguments"),
    ("build_secrets", "build secret ids"),
)


def check_layouts(layouts: Sequence[tuple[str, BuildRecord]], release: ReleaseInputs) -> None:
    """The layouts (``(name, record)``, as given with ``--from``) belong to one release: built
    from the same commit, epoch, Dockerfile, stage and build arguments as each other and as
    ``release``; no platform twice; every platform of the release present, and no other.
    The first problem raises InvalidInput naming the layouts and the mismatch."""
    if not layouts:
        raise InvalidInput(_FLAG, [], "names no layout", "Pass one --from DIR per `shipyard build` output directory.")
    first_name, first = layouts[0]
    for name, record in layouts[1:]:
        for key, label in _SAME:
            mine, theirs = getattr(record, key), getattr(first, key)
            if mine != theirs:
                raise InvalidInput(
                    _FLAG,
                    [first_name, name],
                    f"the layouts do not belong together: {label} {_show(key, theirs)} in {first_name} but {_show(key, mine)} in {name}",
                    _REBUILD,
                )
    expected: dict[str, Any] = {
        "source_date_epoch": release.source_date_epoch,
        "dockerfile": release.dockerfile,
        "dockerfile_digest": release.dockerfile_digest,
        "target": release.target,
        "build_args": dict(release.build_args),
    }
    if release.commit:
        expected["commit"] = release.commit
    names = [n for n, _ in layouts]
    for key, label in _SAME:
        if key in expected and getattr(first, key) != expected[key]:
            raise InvalidInput(
                _FLAG,
                names,
                f"the layouts were built with {label} {_show(key, getattr(first, key))}, this release has {_show(key, expected[key])}",
                "Publish with the same arguments (and from the same checkout) as the builds, or rebuild the layouts.",
            )
    seen: dict[Platform, str] = {}
    for name, record in layouts:
        for platform in record.platforms:
            if platform in seen:
                raise InvalidInput(
                    _FLAG,
                    [seen[platform], name] if seen[platform] != name else [name],
                    f"{platform} is in {seen[platform]} and in {name}: a platform twice",
                    "Build each platform on one runner only (one --platform per matrix job), or drop one --from.",
                )
            seen[platform] = name
            if platform not in release.platforms:
                raise InvalidInput(
                    _FLAG,
                    name,
                    f"holds {platform}, which is not one of the release's platforms ({_list(release.platforms)})",
                    "Add it with --platform, or drop that layout.",
                )
    missing = [p for p in release.platforms if p not in seen]
    if missing:
        held = "; ".join(f"{n}: {_list(r.platforms)}" for n, r in layouts)
        raise InvalidInput(
            _FLAG,
            names,
            f"no layout holds {_list(missing)} of the release's platforms ({held})",
            "Pass the layout of every platform (a --from per matrix job), or publish fewer with --platform.",
        )


def _show(key: str, value: Any) -> str:
    if key == "commit":
        return repr(value[:12]) if value else "(none)"
    if key == "build_args":
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "(none)"
    if key == "build_secrets":
        return ", ".join(value) or "(none)"
    return repr(value)


def _list(platforms: Sequence[Platform]) -> str:
    return ", ".join(map(str, platforms)) or "none"


def layout_dependencies(layouts: Sequence[tuple[str, BuildRecord]]) -> list[dict[str, Any]]:
    """Provenance ``resolvedDependencies``: each platform image of each layout, by digest."""
    out = []
    for name, record in layouts:
        for image in record.images:
            out.append(
                {
                    "uri": f"oci-layout:{name}@{image.digest}",
                    "name": f"{image.platform} (built by {record.runner or record.engine})",
                    "digest": {"sha256": Digest.parse(image.digest).hex},
                }
            )
    return out


def layout_builders(layouts: Sequence[tuple[str, BuildRecord]]) -> list[dict[str, Any]]:
    """Provenance ``builders``: who built which platforms (runner as given, engine and its version)."""
    return [
        {
            "address": record.engine,
            "runner": record.runner,
            "platforms": [i.platform for i in record.images],
            "dagger": record.engine_version,
            "shipyard": record.shipyard_version,
            "layout": name,
        }
        for name, record in layouts
    ]


@dataclass(frozen=True)
class BuildReport:
    """What ``build`` wrote: each platform image's digest in the layout, and where."""

    out: str
    record: BuildRecord | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.record is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "out": self.out,
            "record": self.record.model_dump(mode="json") if self.record else None,
            "error": self.error,
        }

    def render_text(self) -> str:
        if self.record is None or self.error:
            return f"Build into {self.out}: FAILED\n  error: {self.error}"
        lines = [f"Built {len(self.record.images)} platform image(s) into {self.out} (nothing pushed)"]
        lines.extend(f"  {i.platform:<14} {i.digest}" for i in self.record.images)
        commit = self.record.commit[:12] or "(no commit)"
        lines.append(f"  commit {commit}, SOURCE_DATE_EPOCH={self.record.source_date_epoch}, engine {self.record.engine_version}")
        lines.append(f"  release them with: shipyard publish --from {self.out} [--from …]")
        return "\n".join(lines)
