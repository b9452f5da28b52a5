"""Safety of cleanup plans over random repositories and random policies (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.retention.inventory import Inventory, Manifest
from shipyard.retention.planner import Action, plan_cleanup
from shipyard.retention.policy import RetentionPolicy

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TAG_NAMES = [
    "latest",
    "stable",
    "1.0.0",
    "1.1",
    "v2.0.0",
    "2.1.0-rc.1",
    "2.1.0-rc.2",
    "3.0.0-beta.1",
    "edge",
    "feature-x",
    "pr-7",
    "nightly",
]


def dg(n: int) -> str:
    return f"sha256:{n:064x}"


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    n_images = draw(st.integers(1, 8))
    manifests: dict[str, Manifest] = {}
    leaf_pool = [dg(100 + i) for i in range(6)]
    for i in range(n_images):
        age = draw(st.one_of(st.none(), st.integers(0, 400)))
        created = NOW - timedelta(days=age) if age is not None else None
        children = tuple(draw(st.lists(st.sampled_from(leaf_pool), max_size=3, unique=True)))
        manifests[dg(i)] = Manifest(dg(i), created=created, children=children)
        for child in children:
            manifests.setdefault(child, Manifest(child, created=created))
    subjects = [*list(manifests), dg(999)]  # dg(999) does not exist: its artifacts are orphans
    for j in range(draw(st.integers(0, 6))):
        subject = draw(st.sampled_from(subjects))
        kind = draw(st.sampled_from(["signature", "attestation", "sbom", "referrers"]))
        listed: tuple[str, ...] = ()
        if kind == "referrers":  # OCI 1.1 fallback index; the manifests it lists carry no tag
            listed = tuple(dg(700 + 10 * j + k) for k in range(draw(st.integers(1, 2))))
            for digest in listed:
                manifests[digest] = Manifest(digest)
        manifests[dg(500 + j)] = Manifest(dg(500 + j), children=listed, subject=subject, artifact=kind)
    images = [dg(i) for i in range(n_images)]
    tags = draw(st.dictionaries(st.sampled_from(TAG_NAMES), st.sampled_from(images), max_size=8))
    return Inventory("r/app", tags, manifests)


policies = st.builds(
    RetentionPolicy,
    keep_untagged=st.one_of(st.none(), st.integers(0, 3)),
    keep_prereleases=st.one_of(st.none(), st.integers(0, 2)),
    older_than=st.one_of(st.none(), st.integers(0, 300).map(lambda d: timedelta(days=d))),
    protect=st.sets(st.sampled_from(TAG_NAMES), max_size=3).map(tuple),
    protect_pattern=st.sampled_from([(), (r"v?\d+(\.\d+){0,2}",)]),
    only_untagged=st.booleans(),
)


def reachable(inv: Inventory, roots: set[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        d = stack.pop()
        if d in seen:
            continue
        seen.add(d)
        if d in inv.manifests:
            stack.extend(inv.manifests[d].children)
        stack.extend(m.digest for m in inv.manifests.values() if m.subject == d)
    return seen


def apply(inv: Inventory, deleted: set[str]) -> Inventory:
    """What a registry holds after deleting those digests (their tags go with them)."""
    return Inventory(
        inv.repository,
        {t: d for t, d in inv.tags.items() if d not in deleted},
        {d: m for d, m in inv.manifests.items() if d not in deleted},
    )


@settings(max_examples=300, deadline=None)
@given(inventories(), policies)
def test_no_policy_breaks_the_safety_rules(inv: Inventory, policy: RetentionPolicy) -> None:
    plan = plan_cleanup(inv, policy, NOW)
    deleted = set(plan.delete_order)
    kept_tags = {d.name for d in plan.tags if d.action is Action.KEEP}

    # only what the repository holds is deleted, each once
    assert deleted <= set(inv.manifests) and len(deleted) == len(plan.delete_order)
    # nothing a kept tag reaches (children, artifacts, artifacts of children) is deleted
    assert not deleted & reachable(inv, {inv.tags[t] for t in kept_tags})
    # protected tags are kept; only_untagged keeps every tag
    assert {t for t in inv.tags if policy.protection(t)} <= kept_tags
    if policy.only_untagged:
        assert kept_tags == set(inv.tags)
    # a deleted tag really goes: its digest is deleted (distribution deletes by digest)
    for decision in plan.tags:
        assert (decision.action is Action.DELETE) == (decision.digest in deleted) or decision.action is Action.KEEP
        if decision.action is Action.DELETE:
            assert decision.digest in deleted
    for manifest in inv.manifests.values():
        if manifest.artifact and manifest.subject in deleted:
            assert manifest.digest in deleted, "deleting an image would orphan its artifact"
        if manifest.artifact and manifest.subject in inv.manifests and manifest.subject not in deleted:
            assert manifest.digest not in deleted, "an artifact of a surviving image would be deleted"
    # artifacts go before what they describe, indexes before their children
    position = {d: i for i, d in enumerate(plan.delete_order)}
    for digest in deleted:
        manifest = inv.manifests[digest]
        if manifest.subject in position:
            assert position[digest] < position[manifest.subject]
        for child in manifest.children:
            if child in position:
                assert position[digest] < position[child]


@settings(max_examples=300, deadline=None)
@given(inventories(), policies)
def test_a_second_run_plans_nothing(inv: Inventory, policy: RetentionPolicy) -> None:
    first = plan_cleanup(inv, policy, NOW)
    second = plan_cleanup(apply(inv, set(first.delete_order)), policy, NOW)
    assert second.delete_order == ()
