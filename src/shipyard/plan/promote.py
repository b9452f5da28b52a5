"""Which tags a release moves on a registry, and which it holds back so none goes backwards.

``latest``, the major tag (``1``) and the minor tag (``1.2``) float: each names the newest
stable release of its line. A backport (1.2.4 published after 1.3.0) must move ``1.2`` but not
``1`` or ``latest``. This module decides that from the tags a repository already has; it never
touches a registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import semver

from shipyard.plan.tags import parse_semver


@dataclass(frozen=True)
class HeldBack:
    tag: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"tag": self.tag, "reason": self.reason}


@dataclass(frozen=True)
class Promotion:
    """The tags to write on one repository: fixed tags first, floating ones last."""

    fixed: tuple[str, ...]
    floating: tuple[str, ...]
    held_back: tuple[HeldBack, ...]

    @property
    def tags(self) -> tuple[str, ...]:
        return self.fixed + self.floating


@dataclass(frozen=True)
class _Affix:
    prefix: str
    suffix: str

    def strip(self, tag: str) -> str | None:
        if tag.startswith(self.prefix) and tag.endswith(self.suffix) and len(tag) > len(self.prefix) + len(self.suffix):
            return tag[len(self.prefix) : len(tag) - len(self.suffix)]
        return None


def plan_promotion(
    version: str | None, tags: Sequence[str], existing: Iterable[str], *, latest: bool, allow_backwards: bool = False
) -> Promotion:
    """Split ``tags`` into fixed and floating ones and hold back each floating tag that would
    point at an older release than the one it names today.

    ``existing`` are the repository's current tags; ``latest`` says whether the plan moves
    ``latest``. A version that is not semver (``nightly``, ``pr-12``) has no floating tags.
    """
    parsed = parse_semver(version) if version else None
    affix = _affix(version, tags) if parsed is not None and version is not None else None
    floating: dict[str, str] = {}  # tag -> line it floats over ("latest", "1", "1.2")
    if parsed is not None and affix is not None:
        for tag in tags:
            inner = affix.strip(tag)
            if inner == str(parsed.major):
                floating[tag] = "major"
            elif inner == f"{parsed.major}.{parsed.minor}":
                floating[tag] = "minor"
    if latest:
        for tag in tags:
            if re.fullmatch(r"(?:.*[-_.])?latest(?:[-_.].*)?", tag):
                floating[tag] = "latest"
    fixed = tuple(t for t in tags if t not in floating)
    if parsed is None or affix is None or allow_backwards:
        return Promotion(fixed=fixed, floating=tuple(t for t in tags if t in floating), held_back=())
    newer = _newer_stable_releases(parsed, affix, existing)
    moved: list[str] = []
    held: list[HeldBack] = []
    for tag in tags:
        line = floating.get(tag)
        if line is None:
            continue
        blocking = [v for v in newer if line == "latest" or (v.major == parsed.major and (line == "major" or v.minor == parsed.minor))]
        if blocking:
            top = max(blocking)
            held.append(HeldBack(tag, f"{top} is newer than {parsed} and already released; {tag} stays on it"))
        else:
            moved.append(tag)
    return Promotion(fixed=fixed, floating=tuple(moved), held_back=tuple(held))


def _affix(version: str, tags: Sequence[str]) -> _Affix | None:
    """The prefix/suffix the tag strategy wraps versions in, read off the full version tag."""
    for tag in tags:
        at = tag.find(version)
        if at >= 0:
            return _Affix(tag[:at], tag[at + len(version) :])
    return None


def _newer_stable_releases(version: semver.Version, affix: _Affix, existing: Iterable[str]) -> list[semver.Version]:
    out: list[semver.Version] = []
    for tag in existing:
        inner = affix.strip(tag)
        other = parse_semver(inner) if inner is not None else None
        if other is not None and not other.prerelease and other > version:
            out.append(other)
    return out
