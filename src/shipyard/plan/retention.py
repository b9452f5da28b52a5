"""Registry retention: decide what a cleanup deletes and keeps, and why. Pure: no I/O, no clock.

A backend reads a repository into an :class:`Inventory`; :func:`plan_cleanup` applies a
:class:`RetentionPolicy` and returns a :class:`CleanupPlan` that says, for every tag and digest,
what happens and which rule decided it. Safety rules hold whatever the policy says:

- a digest that a kept tag points to is never deleted, nor any child of a kept index;
- signatures, attestations and SBOMs of a kept image are kept; those of a deleted image are
  deleted with it (no orphans), and artifacts whose image is already gone are deleted too;
- a deletion plan is ordered artifacts first, then indexes, then their children, so a
  partial failure leaves at worst an unreferenced child behind, never a broken kept image.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from shipyard.plan.errors import InvalidInput
from shipyard.plan.refs import validate_tag
from shipyard.plan.tags import parse_semver

# Tags that name another image's artifacts: cosign's sha256-<hex>.sig / .att / .sbom, and the
# OCI 1.1 referrers fallback sha256-<hex> (an index listing the manifests whose subject is it).
ARTIFACT_TAG = re.compile(r"(sha256)-([0-9a-f]{64})(?:\.(sig|att|sbom))?")
_ARTIFACT_KIND = {"sig": "signature", "att": "attestation", "sbom": "sbom", None: "referrers"}
_ARTIFACT_TYPES = {"sig": "signature", "att": "attestation", "in-toto": "attestation", "sbom": "sbom", "spdx": "sbom", "cyclonedx": "sbom"}
DEFAULT_PROTECT = ("latest", "stable")
RELEASE_TAG_PATTERN = r"v?(0|[1-9]\d*)(\.(0|[1-9]\d*)){0,2}"
_DURATION = re.compile(r"(\d+)([smhdw])")


def artifact_tag(tag: str) -> tuple[str, str] | None:
    """``(subject digest, kind)`` for a tag that names another image's artifacts, else ``None``."""
    match = ARTIFACT_TAG.fullmatch(tag)
    if not match:
        return None
    return f"{match.group(1)}:{match.group(2)}", _ARTIFACT_KIND[match.group(3)]


def artifact_kind(artifact_type: str) -> str:
    """A readable kind for an OCI ``artifactType`` (e.g. cosign's ``...artifact.sig.v1+json``)."""
    lowered = artifact_type.lower()
    return next((kind for key, kind in _ARTIFACT_TYPES.items() if key in lowered), "referrer")


def _with_listed_referrers(inv: Inventory) -> Inventory:
    """Manifests listed by a referrers fallback index are artifacts of the same subject."""
    manifests = dict(inv.manifests)
    for index in inv.manifests.values():
        if index.artifact != "referrers" or not index.subject:
            continue
        for child in index.children:
            listed = manifests.get(child) or Manifest(child)
            if not listed.artifact:
                manifests[child] = replace(listed, subject=index.subject, artifact=listed.artifact or "referrer")
    return replace(inv, manifests=manifests)


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_AGE_DAYS = 36500  # a hundred years: older than the OCI distribution spec itself


def parse_duration(text: str, *, what: str = "--older-than") -> timedelta:
    """``90d``, ``12h``, ``2w``, ``1w3d`` -> timedelta; more than zero, at most a hundred years."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise InvalidInput(what, text, "is not a duration", "Write it as a number and unit (s, m, h, d, w), e.g. 90d, 12h or 2w.")
    if any(len(n) > 12 for n, _ in parts):
        raise InvalidInput(what, text, f"is longer than {MAX_AGE_DAYS} days", "Use a realistic age, e.g. 90d or 52w.")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds == 0:
        raise InvalidInput(what, text, "is zero, so every unprotected tag would count as old", "Use a positive duration, e.g. 90d.")
    if seconds > MAX_AGE_DAYS * 86400:
        raise InvalidInput(what, text, f"is longer than {MAX_AGE_DAYS} days", "Use a realistic age, e.g. 90d or 52w.")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Manifest:
    """One manifest in a repository, as a backend read it."""

    digest: str
    media_type: str = ""
    created: datetime | None = None
    children: tuple[str, ...] = ()  # platform manifests of an index
    subject: str | None = None  # set for signatures/attestations/SBOMs: the image they describe
    artifact: str | None = None  # "signature", "attestation" or "sbom"
    tag: str | None = None  # an artifact's own tag (sha256-<subject>.sig), for tag-deleting backends


@dataclass(frozen=True)
class Inventory:
    """A repository's tags (image tags only: cosign artifact tags are folded into manifests)."""

    repository: str
    tags: dict[str, str]  # tag -> digest
    manifests: dict[str, Manifest]
    deletes_tags_individually: bool = False  # Docker Hub deletes tags; OCI registries delete digests

    def created(self, digest: str) -> datetime | None:
        manifest = self.manifests.get(digest)
        return manifest.created if manifest else None


class RetentionPolicy(BaseModel):
    """What a cleanup may delete. Each rule is off unless set; protected tags are never deleted."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    keep_untagged: int | None = None
    keep_prereleases: int | None = None
    older_than: timedelta | None = None
    protect: tuple[str, ...] = DEFAULT_PROTECT
    protect_pattern: tuple[str, ...] = (RELEASE_TAG_PATTERN,)
    only_untagged: bool = False

    @field_validator("keep_untagged", "keep_prereleases")
    @classmethod
    def _non_negative(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value < 0:
            raise InvalidInput(f"--{str(info.field_name).replace('_', '-')}", value, "is negative", "Use 0 or more.")
        return value

    @field_validator("protect")
    @classmethod
    def _valid_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            validate_tag(tag, what="--protect")
        return value

    @field_validator("protect_pattern")
    @classmethod
    def _valid_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern:
                raise InvalidInput("--protect-regex", pattern, "is empty and would protect nothing", "Give a regular expression.")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InvalidInput("--protect-regex", pattern, f"is not a valid regular expression ({exc})", "Fix the regex.") from None
        return value

    def protection(self, tag: str) -> str | None:
        """Why ``tag`` is protected, or ``None``."""
        if tag in self.protect:
            return f"protected tag {tag!r}"
        for pattern in self.protect_pattern:
            if re.fullmatch(pattern, tag):
                return f"protected by pattern {pattern!r}"
        return None

    def describe(self) -> list[str]:
        rules = []
        if self.only_untagged:
            rules.append("only untagged digests are considered")
        if self.keep_untagged is not None:
            rules.append(f"keep the newest {self.keep_untagged} untagged digests")
        if self.keep_prereleases is not None and not self.only_untagged:
            rules.append(f"keep the newest {self.keep_prereleases} pre-release tags")
        if self.older_than is not None and not self.only_untagged:
            rules.append(f"delete tags older than {_fmt_delta(self.older_than)}")
        protected = [*self.protect, *(f"/{p}/" for p in self.protect_pattern)]
        rules.append("protect " + ", ".join(protected) if protected else "protect no tag (default protection is off)")
        return rules


class Action(StrEnum):
    KEEP = "keep"
    DELETE = "delete"


@dataclass(frozen=True)
class Decision:
    """What happens to one tag or digest, and the rule that decided it."""

    kind: str  # "tag", "image", "child", "signature", "attestation", "sbom"
    name: str  # the tag, or the digest
    digest: str
    action: Action
    reason: str


@dataclass(frozen=True)
class CleanupPlan:
    """Ordered deletions (what to DELETE, in that order) and every keep, each with its reason."""

    repository: str
    rules: tuple[str, ...]
    tags: tuple[Decision, ...]
    digests: tuple[Decision, ...]
    delete_order: tuple[str, ...]  # digests (or tags, for backends that delete tags) to delete, in order
    deletes_tags_individually: bool = False

    @property
    def deletions(self) -> tuple[Decision, ...]:
        return tuple(d for d in (*self.tags, *self.digests) if d.action is Action.DELETE)

    def to_json(self) -> dict[str, object]:
        def row(d: Decision) -> dict[str, str]:
            return {"kind": d.kind, "name": d.name, "digest": d.digest, "action": d.action.value, "reason": d.reason}

        return {
            "repository": self.repository,
            "rules": list(self.rules),
            "delete": [row(d) for d in self.deletions],
            "keep": [row(d) for d in (*self.tags, *self.digests) if d.action is Action.KEEP],
            "delete_order": list(self.delete_order),
        }

    def render_text(self) -> str:
        lines = [f"Cleanup plan for {self.repository}", *(f"  rule: {r}" for r in self.rules)]
        deletions = self.deletions
        lines.append(f"  delete ({len(deletions)}):")
        lines += [f"    - {d.kind} {_short(d.name)}: {d.reason}" for d in deletions] or ["    (nothing)"]
        keeps = [d for d in (*self.tags, *self.digests) if d.action is Action.KEEP]
        lines.append(f"  keep ({len(keeps)}):")
        lines += [f"    - {d.kind} {_short(d.name)}: {d.reason}" for d in keeps] or ["    (nothing)"]
        return "\n".join(lines)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def _short(name: str) -> str:
    return name[:19] if name.startswith("sha256:") else name


@dataclass
class _Graph:
    inv: Inventory
    referrers: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.inv.manifests.values():
            if m.subject:
                self.referrers.setdefault(m.subject, []).append(m.digest)

    def closure(self, roots: set[str]) -> set[str]:
        """Roots plus every child and every artifact that refers to anything in the set."""
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            digest = stack.pop()
            if digest in seen:
                continue
            seen.add(digest)
            manifest = self.inv.manifests.get(digest)
            if manifest:
                stack.extend(manifest.children)
            stack.extend(self.referrers.get(digest, []))
        return seen


def _newest_first(inv: Inventory, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Sort (name, digest) pairs newest first; unknown times count as oldest; ties by name."""
    floor = datetime.min.replace(tzinfo=None)

    def key(item: tuple[str, str]) -> tuple[datetime, str]:
        created = inv.created(item[1])
        return ((created.replace(tzinfo=None) if created else floor), item[0])

    return sorted(items, key=key, reverse=True)


def plan_cleanup(inv: Inventory, policy: RetentionPolicy, now: datetime) -> CleanupPlan:
    """Apply ``policy`` to ``inv`` as of ``now``."""
    inv = _with_listed_referrers(inv)
    graph = _Graph(inv)
    by_digest = not inv.deletes_tags_individually
    tags = _decide_tags(inv, policy, now)
    if by_digest:  # deleting a tag deletes its digest: impossible while a kept tag shares it
        kept_tags = [d.name for d in tags if d.action is Action.KEEP]

        def shared(d: Decision) -> str:
            return "its digest is also tagged " + ", ".join(sorted(t for t in kept_tags if inv.tags[t] == d.digest)) + " (kept)"

        tags = _keep_where(tags, _kept_digests(inv, tags), shared)
    kept_roots = _kept_digests(inv, tags)
    deleted_by_tag = {d.digest for d in tags if d.action is Action.DELETE}

    untagged, kept_untagged = _decide_untagged(inv, policy, _untagged_images(inv, kept_roots | deleted_by_tag))
    kept = graph.closure(kept_roots | kept_untagged)
    if by_digest:  # a digest inside a kept image (a child, a referrer) survives even if tagged for deletion
        tags = _keep_where(tags, kept, lambda _: "its digest is part of a kept image")
        deleted_by_tag -= kept

    deleted_images = {d.digest for d in untagged if d.action is Action.DELETE} | (deleted_by_tag if by_digest else set())
    doomed = graph.closure(deleted_images) - kept
    digests = [*untagged, *_followers(inv, doomed - {d.digest for d in untagged}, deleted_images)]
    if by_digest:
        orphans = _orphans(inv, kept)
        digests += orphans
        doomed |= {d.digest for d in orphans}
    digests += _kept_followers(inv, kept - kept_roots - kept_untagged)

    if by_digest:
        order = _deletion_order(inv, doomed)
    else:
        artifact_tags = _artifact_tags_losing_their_image(inv, deleted_by_tag - kept_roots)
        digests += artifact_tags
        order = [d.name for d in artifact_tags] + [d.name for d in tags if d.action is Action.DELETE]
    return CleanupPlan(
        repository=inv.repository,
        rules=tuple(policy.describe()),
        tags=tuple(tags),
        digests=tuple(digests),
        delete_order=tuple(order),
        deletes_tags_individually=inv.deletes_tags_individually,
    )


def _kept_digests(inv: Inventory, tags: list[Decision]) -> set[str]:
    return {inv.tags[d.name] for d in tags if d.action is Action.KEEP}


def _keep_where(tags: list[Decision], protected: set[str], why: Callable[[Decision], str]) -> list[Decision]:
    """Turn deletions of tags whose digest is in ``protected`` into keeps, saying why."""
    return [
        Decision("tag", d.name, d.digest, Action.KEEP, f"{d.reason}, but {why(d)}")
        if d.action is Action.DELETE and d.digest in protected
        else d
        for d in tags
    ]


def _followers(inv: Inventory, digests: set[str], images: set[str]) -> list[Decision]:
    """Deletions that follow a deleted image: its artifacts and its platform manifests."""
    out = []
    for digest in sorted(digests):
        manifest = inv.manifests.get(digest)
        if manifest and manifest.artifact:
            out.append(Decision(manifest.artifact, digest, digest, Action.DELETE, f"{manifest.artifact} of a deleted image"))
        elif digest not in images:
            out.append(Decision("child", digest, digest, Action.DELETE, "platform manifest of a deleted index"))
    return out


def _kept_followers(inv: Inventory, digests: set[str]) -> list[Decision]:
    """Keeps that follow a kept image: its artifacts and its platform manifests."""
    out = []
    for digest in sorted(digests):
        manifest = inv.manifests.get(digest)
        if manifest and manifest.artifact:
            out.append(Decision(manifest.artifact, digest, digest, Action.KEEP, f"{manifest.artifact} of a kept image"))
        elif manifest:
            out.append(Decision("child", digest, digest, Action.KEEP, "platform manifest of a kept index"))
    return out


def _orphans(inv: Inventory, kept: set[str]) -> list[Decision]:
    """Artifacts whose image no longer exists at all. (Only where the inventory lists every
    manifest: tag-deleting backends cannot see untagged images, so a missing subject proves nothing.)"""
    out = []
    for manifest in sorted(inv.manifests.values(), key=lambda m: m.digest):
        kind, subject = manifest.artifact, manifest.subject
        if kind and subject and subject not in inv.manifests and manifest.digest not in kept:
            out.append(Decision(kind, manifest.digest, manifest.digest, Action.DELETE, f"orphaned {kind}: its image is gone"))
    return out


def _artifact_tags_losing_their_image(inv: Inventory, untagged_now: set[str]) -> list[Decision]:
    """On tag-deleting backends: artifact tags of images whose last tag is deleted."""
    return [
        Decision(m.artifact, m.tag, m.digest, Action.DELETE, f"{m.artifact} of an image that loses its last tag")
        for m in sorted(inv.manifests.values(), key=lambda m: m.digest)
        if m.artifact and m.tag and m.subject in untagged_now
    ]


def _deletion_order(inv: Inventory, doomed: set[str]) -> list[str]:
    """Referrers indexes, then other artifacts, then images and indexes, then their children."""
    children = {c for d in doomed if d in inv.manifests for c in inv.manifests[d].children}

    def phase(digest: str) -> tuple[int, str]:
        manifest = inv.manifests.get(digest)
        if manifest and manifest.artifact:
            return (0 if manifest.artifact == "referrers" else 1), digest
        return (3 if digest in children else 2), digest

    return sorted(doomed, key=phase)


def _decide_tags(inv: Inventory, policy: RetentionPolicy, now: datetime) -> list[Decision]:
    pre = [(t, d) for t, d in inv.tags.items() if (v := parse_semver(t)) is not None and v.prerelease]
    prerelease_rank = {t: i for i, (t, _) in enumerate(_newest_first(inv, pre))}
    decisions = []
    for tag, digest in sorted(inv.tags.items()):
        protected = policy.protection(tag)
        reasons: list[str] = []
        if protected:
            decisions.append(Decision("tag", tag, digest, Action.KEEP, protected))
            continue
        if policy.only_untagged:
            decisions.append(Decision("tag", tag, digest, Action.KEEP, "only untagged digests are considered"))
            continue
        if policy.keep_prereleases is not None and tag in prerelease_rank and prerelease_rank[tag] >= policy.keep_prereleases:
            reasons.append(f"pre-release beyond the newest {policy.keep_prereleases}")
        created = inv.created(digest)
        if policy.older_than is not None and created is not None and now - created > policy.older_than:
            reasons.append(f"older than {_fmt_delta(policy.older_than)} (created {created:%Y-%m-%d})")
        if reasons:
            decisions.append(Decision("tag", tag, digest, Action.DELETE, "; ".join(reasons)))
        elif tag in prerelease_rank and policy.keep_prereleases is not None:
            decisions.append(Decision("tag", tag, digest, Action.KEEP, f"one of the newest {policy.keep_prereleases} pre-releases"))
        elif policy.older_than is not None and created is None:
            decisions.append(Decision("tag", tag, digest, Action.KEEP, "its creation time is unknown, so --older-than cannot apply"))
        else:
            decisions.append(Decision("tag", tag, digest, Action.KEEP, "no rule selects it"))
    return decisions


def _untagged_images(inv: Inventory, tagged: set[str]) -> list[str]:
    """Top-level untagged images: not tagged, not a child of any index, not an artifact."""
    children = {c for m in inv.manifests.values() for c in m.children}
    return [m.digest for m in inv.manifests.values() if m.digest not in tagged and m.digest not in children and not m.artifact]


def _decide_untagged(inv: Inventory, policy: RetentionPolicy, untagged: list[str]) -> tuple[list[Decision], set[str]]:
    decisions: list[Decision] = []
    kept: set[str] = set()
    ordered = _newest_first(inv, [(d, d) for d in untagged])
    for i, (digest, _) in enumerate(ordered):
        if policy.keep_untagged is None:
            decisions.append(Decision("image", digest, digest, Action.KEEP, "untagged; no keep-untagged rule set"))
            kept.add(digest)
        elif i < policy.keep_untagged:
            decisions.append(Decision("image", digest, digest, Action.KEEP, f"one of the newest {policy.keep_untagged} untagged digests"))
            kept.add(digest)
        else:
            decisions.append(Decision("image", digest, digest, Action.DELETE, f"untagged, beyond the newest {policy.keep_untagged}"))
    return decisions, kept


def _fmt_delta(delta: timedelta) -> str:
    if delta.seconds == 0 and delta.microseconds == 0:
        return f"{delta.days}d"
    return str(delta)


def policy_from_args(
    *,
    keep_untagged: int | None = None,
    keep_prereleases: int | None = None,
    older_than: str = "",
    protect: list[str] | None = None,
    protect_regex: list[str] | None = None,
    only_untagged: bool = False,
    default_protection: bool = True,
) -> RetentionPolicy:
    """The ``cleanup`` arguments (CLI and Dagger function alike) as a policy.

    Given protections add to the defaults (``latest``, ``stable``, release versions) unless
    ``default_protection`` is off.
    """
    if only_untagged:  # the tag rules would silently do nothing
        for name, value in (("--keep-prereleases", keep_prereleases), ("--older-than", older_than or None)):
            if value is not None:
                raise InvalidInput(name, value, "does nothing with --only-untagged (tags are never touched)", "Drop one of the two.")
    names = (*DEFAULT_PROTECT, *(protect or [])) if default_protection else tuple(protect or [])
    patterns = ((RELEASE_TAG_PATTERN,) if default_protection else ()) + tuple(protect_regex or [])
    return RetentionPolicy(
        keep_untagged=keep_untagged,
        keep_prereleases=keep_prereleases,
        older_than=parse_duration(older_than) if older_than else None,
        protect=tuple(dict.fromkeys(names)),
        protect_pattern=tuple(dict.fromkeys(patterns)),
        only_untagged=only_untagged,
    )
