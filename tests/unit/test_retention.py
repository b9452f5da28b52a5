"""Retention planning: each policy's exact deletion set, and the safety rules no policy can break."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.reports.report import cleanup_plan_dict, render_cleanup_plan
from shipyard.retention.inventory import Inventory, Manifest, artifact_tag
from shipyard.retention.planner import Action, plan_cleanup
from shipyard.retention.policy import RetentionPolicy, parse_duration, policy_from_args

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def dg(n: int) -> str:
    return f"sha256:{n:064x}"


def days_ago(n: int) -> datetime:
    return NOW - timedelta(days=n)


def sig(subject: str, n: int, kind: str = "signature") -> Manifest:
    return Manifest(dg(n), created=None, subject=subject, artifact=kind)


def repo() -> Inventory:
    """Releases, pre-releases, a multi-arch index with signed children, untagged digests."""
    manifests = [
        Manifest(dg(1), created=days_ago(200)),  # 1.0.0
        Manifest(dg(2), created=days_ago(100), children=(dg(21), dg(22))),  # 1.1.0 / 1.1 / 1 / latest (index)
        Manifest(dg(21), created=days_ago(100)),
        Manifest(dg(22), created=days_ago(100)),
        Manifest(dg(3), created=days_ago(50)),  # 2.0.0-rc.1
        Manifest(dg(4), created=days_ago(40)),  # 2.0.0-rc.2
        Manifest(dg(5), created=days_ago(30), children=(dg(51), dg(52))),  # 2.0.0-rc.3 (index)
        Manifest(dg(51), created=days_ago(30)),
        Manifest(dg(52), created=days_ago(30)),
        Manifest(dg(6), created=days_ago(120)),  # feature-x (old branch build)
        Manifest(dg(7), created=days_ago(5)),  # untagged, newest
        Manifest(dg(8), created=days_ago(60)),  # untagged
        Manifest(dg(9), created=days_ago(90), children=(dg(91),)),  # untagged index
        Manifest(dg(91), created=days_ago(90)),
        sig(dg(2), 102),
        sig(dg(21), 121),
        sig(dg(2), 103, "attestation"),
        sig(dg(3), 130),
        sig(dg(5), 150),
        sig(dg(51), 151),
        sig(dg(8), 180),
        sig(dg(9), 190),
        sig(dg(999), 199),  # orphan: its image is gone
    ]
    tags = {
        "1.0.0": dg(1),
        "1.1.0": dg(2),
        "1.1": dg(2),
        "1": dg(2),
        "latest": dg(2),
        "2.0.0-rc.1": dg(3),
        "2.0.0-rc.2": dg(4),
        "2.0.0-rc.3": dg(5),
        "feature-x": dg(6),
    }
    return Inventory("127.0.0.1:5000/acme/app", tags, {m.digest: m for m in manifests})


def deleted(plan_policy: RetentionPolicy, inv: Inventory | None = None) -> set[str]:
    plan = plan_cleanup(inv or repo(), plan_policy, NOW)
    return set(plan.delete_order)


def test_keep_newest_prereleases_deletes_older_ones_with_their_signatures() -> None:
    assert deleted(RetentionPolicy(keep_prereleases=1)) == {dg(3), dg(130), dg(4), dg(199)}


def test_keep_newest_untagged_deletes_older_untagged_with_children_and_signatures() -> None:
    assert deleted(RetentionPolicy(keep_untagged=1)) == {dg(8), dg(180), dg(9), dg(91), dg(190), dg(199)}


def test_only_untagged_never_touches_tags() -> None:
    plan = plan_cleanup(repo(), RetentionPolicy(keep_untagged=0, older_than=timedelta(days=1), only_untagged=True), NOW)
    assert all(d.action is Action.KEEP for d in plan.tags)
    assert set(plan.delete_order) == {dg(7), dg(8), dg(180), dg(9), dg(91), dg(190), dg(199)}


def test_age_rule_spares_protected_release_tags_and_latest() -> None:
    plan = plan_cleanup(repo(), RetentionPolicy(older_than=timedelta(days=90)), NOW)
    deleted_tags = {d.name for d in plan.tags if d.action is Action.DELETE}
    assert deleted_tags == {"feature-x"}
    assert set(plan.delete_order) == {dg(6), dg(199)}
    reasons = {d.name: d.reason for d in plan.tags}
    assert reasons["1.0.0"].startswith("protected by pattern")
    assert reasons["latest"] == "protected tag 'latest'"


def test_custom_protection_by_name_and_regex() -> None:
    policy = RetentionPolicy(older_than=timedelta(days=1), protect=("feature-x",), protect_pattern=(r"2\.0\.0-rc\.\d+",))
    plan = plan_cleanup(repo(), policy, NOW)
    assert {d.name for d in plan.tags if d.action is Action.DELETE} == {"1.0.0", "1.1.0", "1.1", "1", "latest"}


def test_a_digest_shared_with_a_kept_tag_is_never_deleted() -> None:
    inv = repo()
    inv.tags["old-alias"] = dg(2)  # same digest as latest
    plan = plan_cleanup(inv, RetentionPolicy(older_than=timedelta(days=1), protect=("latest",), protect_pattern=()), NOW)
    assert dg(2) not in plan.delete_order
    decision = next(d for d in plan.tags if d.name == "old-alias")
    assert decision.action is Action.KEEP and "also tagged latest" in decision.reason


def test_children_and_signatures_of_kept_index_are_kept() -> None:
    plan = plan_cleanup(repo(), RetentionPolicy(keep_untagged=0, keep_prereleases=0), NOW)
    for digest in (dg(21), dg(22), dg(102), dg(103), dg(121)):
        assert digest not in plan.delete_order
    kept = {d.digest: d.reason for d in plan.digests if d.action is Action.KEEP}
    assert kept[dg(21)] == "platform manifest of a kept index"
    assert kept[dg(121)] == "signature of a kept image"


def test_a_child_shared_by_a_kept_index_survives_deleting_another_index() -> None:
    inv = repo()
    inv.manifests[dg(9)] = Manifest(dg(9), created=days_ago(90), children=(dg(91), dg(21)))
    assert dg(21) not in deleted(RetentionPolicy(keep_untagged=0), inv)


def test_delete_order_is_artifacts_then_indexes_then_children() -> None:
    plan = plan_cleanup(repo(), RetentionPolicy(keep_untagged=1), NOW)
    order = list(plan.delete_order)
    assert order.index(dg(190)) < order.index(dg(9)) < order.index(dg(91))


def test_dry_run_text_and_json_give_every_reason() -> None:
    plan = plan_cleanup(repo(), RetentionPolicy(keep_prereleases=1), NOW)
    text = render_cleanup_plan(plan)
    assert "pre-release beyond the newest 1" in text and "orphaned signature" in text
    data = json.loads(json.dumps(cleanup_plan_dict(plan)))
    assert {row["name"] for row in data["delete"]} >= {"2.0.0-rc.1", "2.0.0-rc.2"}
    assert any(row["reason"] == "one of the newest 1 pre-releases" for row in data["keep"])


def test_tag_deleting_backends_delete_tags_not_digests() -> None:
    inv = Inventory(
        "docker.io/acme/app",
        {"old": dg(1), "latest": dg(2)},
        {dg(1): Manifest(dg(1), created=days_ago(100)), dg(2): Manifest(dg(2), created=days_ago(100))},
        deletes_tags_individually=True,
    )
    plan = plan_cleanup(inv, RetentionPolicy(older_than=timedelta(days=90)), NOW)
    assert plan.delete_order == ("old",)


def test_tag_deleting_backends_delete_the_artifact_tags_of_an_image_that_loses_its_last_tag() -> None:
    manifests = {
        dg(1): Manifest(dg(1), created=days_ago(100)),
        dg(2): Manifest(dg(2), created=days_ago(100)),
        dg(11): Manifest(dg(11), subject=dg(1), artifact="signature", tag=f"sha256-{1:064x}.sig"),
        dg(12): Manifest(dg(12), subject=dg(2), artifact="signature", tag=f"sha256-{2:064x}.sig"),
    }
    tags = {"old": dg(1), "old-alias": dg(2), "latest": dg(2)}
    inv = Inventory("docker.io/acme/app", tags, manifests, deletes_tags_individually=True)
    plan = plan_cleanup(inv, RetentionPolicy(older_than=timedelta(days=90)), NOW)
    assert plan.delete_order == (f"sha256-{1:064x}.sig", "old", "old-alias")


def test_nothing_to_do_is_an_empty_plan() -> None:
    assert plan_cleanup(repo(), RetentionPolicy(), NOW).delete_order == (dg(199),)  # only the orphan


@pytest.mark.parametrize(
    ("text", "delta"), [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2)), ("1w3d", timedelta(days=10))]
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not a duration"),
        ("90", "not a duration"),
        ("d", "not a duration"),
        ("ninety days", "not a duration"),
        ("3y", "not a duration"),
        ("0d", "is zero"),
        ("36501d", "longer than 36500 days"),
        ("1000000000d", "longer than 36500 days"),
        ("99999999999w", "longer than 36500 days"),
        ("9" * 400 + "s", "longer than 36500 days"),
    ],
)
def test_bad_durations_name_the_argument(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_duration(text)
    assert err.value.name == "--older-than" and problem in str(err.value)


def test_tags_without_a_creation_time_say_why_the_age_rule_spares_them() -> None:
    inv = Inventory("r/a", {"old": dg(1), "unknown": dg(2)}, {dg(1): Manifest(dg(1), created=days_ago(100)), dg(2): Manifest(dg(2))})
    plan = plan_cleanup(inv, RetentionPolicy(older_than=timedelta(days=90), protect=(), protect_pattern=()), NOW)
    reasons = {d.name: (d.action, d.reason) for d in plan.tags}
    assert reasons["old"][0] is Action.DELETE
    assert reasons["unknown"] == (Action.KEEP, "its creation time is unknown, so --older-than cannot apply")


def test_without_any_protection_the_rules_say_so() -> None:
    rules = policy_from_args(default_protection=False).describe()
    assert rules == ["protect no tag (default protection is off)"]


def test_artifact_tag_tags() -> None:
    assert artifact_tag(f"sha256-{'a' * 64}.sig") == (f"sha256:{'a' * 64}", "signature")
    assert artifact_tag(f"sha256-{'a' * 64}.att") == (f"sha256:{'a' * 64}", "attestation")
    assert artifact_tag("1.2.3") is None


@pytest.mark.parametrize(
    ("arguments", "name", "problem"),
    [
        ({"keep_untagged": -1}, "--keep-untagged", "negative"),
        ({"keep_prereleases": -3}, "--keep-prereleases", "negative"),
        ({"protect_regex": ["("]}, "--protect-regex", "regular expression"),
        ({"protect_regex": [""]}, "--protect-regex", "is empty"),
        ({"protect": ["feature x"]}, "--protect", "contains ' '"),
        ({"protect": [""]}, "--protect", "is empty"),
        ({"only_untagged": True, "older_than": "90d"}, "--older-than", "does nothing with --only-untagged"),
        ({"only_untagged": True, "keep_prereleases": 2}, "--keep-prereleases", "does nothing with --only-untagged"),
    ],
)
def test_bad_policies_name_the_argument(arguments: dict[str, object], name: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as err:
        policy_from_args(**arguments)  # type: ignore[arg-type]
    assert err.value.name == name and problem in str(err.value)


@settings(max_examples=60)
@given(
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 400),
    st.booleans(),
    st.sets(st.sampled_from(["1.0.0", "latest", "1.1.0", "2.0.0-rc.1", "feature-x"]), max_size=3),
)
def test_safety_holds_for_any_policy(keep_untagged: int, keep_pre: int, age: int, only_untagged: bool, protect: set[str]) -> None:
    inv = repo()
    policy = RetentionPolicy(
        keep_untagged=keep_untagged,
        keep_prereleases=keep_pre,
        older_than=timedelta(days=age),
        only_untagged=only_untagged,
        protect=tuple(protect),
        protect_pattern=(),
    )
    plan = plan_cleanup(inv, policy, NOW)
    doomed = set(plan.delete_order)
    kept_tags = [d for d in plan.tags if d.action is Action.KEEP]
    for tag in kept_tags:
        digest = inv.tags[tag.name]
        assert digest not in doomed
        for child in inv.manifests[digest].children:
            assert child not in doomed
    for manifest in inv.manifests.values():
        if manifest.artifact and manifest.subject and manifest.subject in doomed:
            assert manifest.digest in doomed, "an artifact of a deleted image would be orphaned"
        if manifest.artifact and manifest.subject and manifest.subject not in doomed and manifest.subject in inv.manifests:
            assert manifest.digest not in doomed, "an artifact of a kept image would be deleted"
    assert {t for t in protect if t in inv.tags} <= {d.name for d in kept_tags}
