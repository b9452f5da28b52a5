"""Which tags a release writes, what each floating tag must name, and what happened to each tag.

``latest``, the major tag (``1``) and the minor tag (``1.2``) float: each names the newest
stable release of its line. They are a function of the version tags a repository holds at the
moment they are written: a release puts its fixed tags (``1.2.4``, ``sha-…``) in place first,
then points each floating tag at the highest matching version tag present, reads it back and
computes again. Two releases running at once apply the same rule, so whichever writes last, the
highest version wins. A backport (1.2.4 after 1.3.0) thus moves ``1.2`` but not ``1`` or
``latest``. Version tags are immutable: a release never moves one to other content unless told
to (``--allow-overwrite``). This module decides all of that from what was read; it never touches
a registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import semver

from shipyard.errors import InvalidInput
from shipyard.tagging.tags import parse_semver

VERSION_ANNOTATION = "org.opencontainers.image.version"


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

    def wrap(self, version: str) -> str:
        return f"{self.prefix}{version}{self.suffix}"


class Line(StrEnum):
    """The releases a floating tag follows."""

    LATEST = "latest"  # every stable release
    MAJOR = "major"  # stable releases of one major version
    MINOR = "minor"  # stable releases of one major.minor


@dataclass(frozen=True)
class TagRules:
    """A release's tags, sorted: ``fixed`` (written as they are), ``floating`` (tag -> the line it
    follows), ``immutable`` (the version tags: never moved to other content)."""

    version: str | None
    fixed: tuple[str, ...]
    floating: tuple[tuple[str, Line], ...]
    immutable: tuple[str, ...]
    affix: _Affix | None = None
    allow_backwards: bool = False

    @property
    def floating_tags(self) -> tuple[str, ...]:
        return tuple(tag for tag, _ in self.floating)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.fixed + self.floating_tags

    @property
    def version_tag(self) -> str | None:
        """This release's own version tag (``v1.2.4-alpine``), when the version is semver."""
        return self.immutable[0] if self.immutable else None


def tag_rules(version: str | None, tags: Sequence[str], *, latest: bool, allow_backwards: bool = False) -> TagRules:
    """Sort a release's tags. A version that is not semver (``nightly``, ``pr-12``) has no
    floating or immutable tags (``latest`` aside, which then simply names the release)."""
    parsed = parse_semver(version) if version else None
    affix = _affix(version, tags) if parsed is not None and version is not None else None
    floating: dict[str, Line] = {}
    if parsed is not None and affix is not None:
        for tag in tags:
            inner = affix.strip(tag)
            if inner == str(parsed.major):
                floating[tag] = Line.MAJOR
            elif inner == f"{parsed.major}.{parsed.minor}":
                floating[tag] = Line.MINOR
    if latest:
        for tag in tags:
            if re.fullmatch(r"(?:.*[-_.])?latest(?:[-_.].*)?", tag):
                floating[tag] = Line.LATEST
    immutable = tuple(t for t in tags if affix is not None and affix.strip(t) == version and t not in floating)
    return TagRules(
        version=version,
        fixed=tuple(t for t in tags if t not in floating),
        floating=tuple((t, floating[t]) for t in tags if t in floating),
        immutable=immutable,
        affix=affix,
        allow_backwards=allow_backwards,
    )


def floating_sources(rules: TagRules, existing: Iterable[str]) -> dict[str, str]:
    """The version tag each floating tag must name now: the highest stable release of its line
    among ``existing`` (the repository's tags, this release's fixed ones included). This
    release's own version tag when nothing is higher, when the version is not semver, or with
    ``allow_backwards``."""
    own = rules.version_tag
    parsed = parse_semver(rules.version) if rules.version else None
    if own is None or parsed is None or rules.affix is None or rules.allow_backwards:
        return {tag: own or "" for tag in rules.floating_tags}
    releases = _stable_releases(rules.affix, existing)
    out: dict[str, str] = {}
    for tag, line in rules.floating:
        candidates = [
            (v, t)
            for v, t in releases
            if line is Line.LATEST or (v.major == parsed.major and (line is Line.MAJOR or v.minor == parsed.minor))
        ]
        top = max(candidates, default=None, key=lambda item: item[0])
        out[tag] = top[1] if top is not None and top[0] > parsed else own
    return out


def plan_promotion(
    version: str | None, tags: Sequence[str], existing: Iterable[str], *, latest: bool, allow_backwards: bool = False
) -> Promotion:
    """What a release would move given the tags a repository has now (``shipyard plan``'s view,
    and the first round of a promotion): floating tags that a newer release holds are held back."""
    rules = tag_rules(version, tags, latest=latest, allow_backwards=allow_backwards)
    sources = floating_sources(rules, [*existing, *rules.immutable])
    own = rules.version_tag or ""
    moved = tuple(t for t in rules.floating_tags if sources[t] == own)
    held = tuple(HeldBack(t, held_back_reason(t, sources[t], rules.version or "", None)) for t in rules.floating_tags if sources[t] != own)
    return Promotion(fixed=rules.fixed, floating=moved, held_back=held)


def held_back_reason(tag: str, source: str, version: str, digest: str | None) -> str:
    """Why a floating tag stays on another release, naming what it names."""
    where = f"{source} ({digest})" if digest else source
    return f"{source} is newer than {version} and already released; {tag} names {where}"


def _affix(version: str, tags: Sequence[str]) -> _Affix | None:
    """The prefix/suffix the tag strategy wraps versions in, read off the full version tag."""
    for tag in tags:
        at = tag.find(version)
        if at >= 0:
            return _Affix(tag[:at], tag[at + len(version) :])
    return None


def _stable_releases(affix: _Affix, existing: Iterable[str]) -> list[tuple[semver.Version, str]]:
    out: list[tuple[semver.Version, str]] = []
    for tag in existing:
        inner = affix.strip(tag)
        other = parse_semver(inner) if inner is not None else None
        if other is not None and not other.prerelease and inner == str(other):
            out.append((other, tag))
    return out


# Immutable release tags ----------------------------------------------------------------------


class ReleaseTagTaken(InvalidInput):
    """A version tag already names other content: refused before anything is pushed."""


def check_release_tags(
    rules: TagRules, current: Mapping[str, Mapping[str, str | None]], digest: str, *, allow_overwrite: bool
) -> list[str]:
    """The version tags this release would move to other content (``current``: repository ->
    tag -> digest). Raises :class:`ReleaseTagTaken` naming them, unless ``allow_overwrite``: then
    returns notices saying what moves from where."""
    taken = [
        (repository, tag, found)
        for repository, tags in current.items()
        for tag in rules.immutable
        if (found := tags.get(tag)) is not None and found != digest
    ]
    if not taken:
        return []
    if not allow_overwrite:
        repository, tag, found = taken[0]
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise ReleaseTagTaken(
            "release tag",
            f"{repository}:{tag}",
            f"already names {found}, other content than this release ({digest}){more}; release tags are immutable",
            "Publish a new version, or pass --allow-overwrite to move it.",
        )
    return [f"{repository}:{tag} overwritten: it named {found}, now {digest} (--allow-overwrite)" for repository, tag, found in taken]


# What happened to each tag ---------------------------------------------------------------------


class Outcome(StrEnum):
    CREATED = "created"  # did not exist; names this release now
    MOVED = "moved"  # named something else; this release moved it
    KEPT = "kept"  # already named what it must; nothing written
    HELD_BACK = "held back"  # a floating tag a newer release holds
    RESTORED = "restored"  # moved by this (failed) release, then put back
    DELETED = "deleted"  # created by this (failed) release, then removed
    LEFT = "left"  # could not be undone (see the error): names the release still
    UNKNOWN = "unknown"  # could not be read back


def tag_outcome(before: str | None, after: str | None, ours: str, *, wrote: bool, undone: bool, read: bool = True) -> Outcome:
    """What happened to one tag, from its digest before and after the release (read back).
    ``wrote``: this release sent a write for it (answered or not); ``undone``: the release failed
    and put its tags back."""
    if not read:
        return Outcome.UNKNOWN
    if undone:
        if after == before:
            if not wrote:
                return Outcome.KEPT
            return Outcome.DELETED if before is None else Outcome.RESTORED
        return Outcome.LEFT
    if after == ours:
        if before == ours:
            return Outcome.KEPT
        return Outcome.CREATED if before is None else Outcome.MOVED
    if after == before:
        return Outcome.HELD_BACK
    return Outcome.MOVED if wrote else Outcome.HELD_BACK


def is_foreign(annotated_version: str | None, rules: TagRules, existing: Iterable[str]) -> bool:
    """Is what a floating tag names not a release (no version tag for the version its index
    says it is, or no such annotation: another tool's image)?"""
    if rules.affix is None or not annotated_version:
        return True
    return rules.affix.wrap(annotated_version) not in set(existing)
