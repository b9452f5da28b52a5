"""The cleanup planner: decide what a cleanup deletes and keeps, and why. Pure: no I/O, no clock.

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

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shipyard.retention.inventory import Inventory, with_listed_referrers
from shipyard.retention.policy import RetentionPolicy, format_age
from shipyard.tagging.tags import parse_semver


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

    @property
    def keeps(self) -> tuple[Decision, ...]:
        return tuple(d for d in (*self.tags, *self.digests) if d.action is Action.KEEP)


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
    inv = with_listed_referrers(inv)
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
            reasons.append(f"older than {format_age(policy.older_than)} (created {created:%Y-%m-%d})")
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
