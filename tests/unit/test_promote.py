"""Floating tags never go backwards: which tags a release moves, per repository."""

from __future__ import annotations

import pytest

from shipyard.release.promote import plan_promotion

RELEASE = ["1.2.4", "1.2", "1", "sha-860c190", "latest"]


def test_first_release_moves_every_tag() -> None:
    p = plan_promotion("1.2.4", RELEASE, [], latest=True)
    assert p.fixed == ("1.2.4", "sha-860c190")
    assert p.floating == ("1.2", "1", "latest")
    assert p.held_back == ()


def test_backport_moves_its_minor_but_not_major_or_latest() -> None:
    p = plan_promotion("1.2.4", RELEASE, ["1.3.0", "1.3", "1", "latest", "1.2.3", "1.2"], latest=True)
    assert p.tags == ("1.2.4", "sha-860c190", "1.2")
    assert {h.tag for h in p.held_back} == {"1", "latest"}
    assert all("1.3.0" in h.reason for h in p.held_back)


def test_old_major_backport_keeps_latest_on_the_newest_major() -> None:
    p = plan_promotion("1.9.1", ["1.9.1", "1.9", "1", "latest"], ["2.0.0", "1.9.0"], latest=True)
    assert p.tags == ("1.9.1", "1.9", "1")
    assert [h.tag for h in p.held_back] == ["latest"]


def test_prereleases_in_the_repository_never_hold_a_stable_release_back() -> None:
    p = plan_promotion("1.2.4", RELEASE, ["2.0.0-rc.1", "1.3.0-beta.2"], latest=True)
    assert p.held_back == ()


def test_rerelease_of_the_newest_version_moves_everything() -> None:
    p = plan_promotion("1.2.4", RELEASE, RELEASE, latest=True)
    assert p.held_back == ()


def test_opt_out_moves_everything_even_backwards() -> None:
    p = plan_promotion("1.2.4", RELEASE, ["1.3.0"], latest=True, allow_backwards=True)
    assert p.tags == tuple(["1.2.4", "sha-860c190", "1.2", "1", "latest"])


def test_prefix_and_suffix_of_the_strategy_are_understood() -> None:
    tags = ["v1.2.4-alpine", "v1.2-alpine", "v1-alpine"]
    p = plan_promotion("1.2.4", tags, ["v1.3.0-alpine", "1.9.0"], latest=False)
    assert p.tags == ("v1.2.4-alpine", "v1.2-alpine")
    assert [h.tag for h in p.held_back] == ["v1-alpine"]


@pytest.mark.parametrize("version", ["nightly", "pr-12", None])
def test_non_semver_versions_have_no_floating_tags(version: str | None) -> None:
    p = plan_promotion(version, ["nightly", "sha-1234567"], ["1.0.0", "latest"], latest=False)
    assert p.floating == () and p.held_back == ()
    assert p.fixed == ("nightly", "sha-1234567")


# Floating tags as a function of the version tags present ---------------------------------------

from shipyard.errors import InvalidInput  # noqa: E402
from shipyard.release.promote import (  # noqa: E402
    Outcome,
    ReleaseTagTaken,
    check_release_tags,
    floating_sources,
    is_foreign,
    tag_outcome,
    tag_rules,
)


def test_tag_rules_sort_fixed_floating_and_immutable() -> None:
    rules = tag_rules("1.2.4", RELEASE, latest=True)
    assert rules.fixed == ("1.2.4", "sha-860c190")
    assert rules.floating_tags == ("1.2", "1", "latest")
    assert rules.immutable == ("1.2.4",) and rules.version_tag == "1.2.4"


@pytest.mark.parametrize("version", ["nightly", "pr-12"])
def test_non_semver_releases_have_no_immutable_tags(version: str) -> None:
    assert tag_rules(version, [version, "sha-1234567"], latest=False).immutable == ()


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ([], {"1.2": "1.2.4", "1": "1.2.4", "latest": "1.2.4"}),  # the first release
        (["1.3.0", "1.3", "1"], {"1.2": "1.2.4", "1": "1.3.0", "latest": "1.3.0"}),  # a backport
        (["2.0.0", "1.9.9"], {"1.2": "1.2.4", "1": "1.9.9", "latest": "2.0.0"}),
        (["1.2.5"], {"1.2": "1.2.5", "1": "1.2.5", "latest": "1.2.5"}),  # a newer patch released first
        (["2.0.0-rc.1", "1.3.0-beta.2", "1.3", "v9.0.0"], {"1.2": "1.2.4", "1": "1.2.4", "latest": "1.2.4"}),  # no prerelease wins
    ],
)
def test_each_floating_tag_follows_the_highest_stable_release_of_its_line(present: list[str], expected: dict[str, str]) -> None:
    rules = tag_rules("1.2.4", RELEASE, latest=True)
    assert floating_sources(rules, ["1.2.4", *present]) == expected


def test_two_releases_applying_the_rule_agree_whatever_each_saw_first() -> None:
    old, new = tag_rules("1.2.4", RELEASE, latest=True), tag_rules("1.3.0", ["1.3.0", "1.3", "1", "latest"], latest=True)
    both = ["1.2.4", "1.3.0"]
    assert floating_sources(old, both)["latest"] == floating_sources(new, both)["latest"] == "1.3.0"
    assert floating_sources(old, both)["1"] == floating_sources(new, both)["1"] == "1.3.0"


def test_allow_backwards_points_every_floating_tag_at_the_release() -> None:
    rules = tag_rules("1.2.4", RELEASE, latest=True, allow_backwards=True)
    assert set(floating_sources(rules, ["1.3.0", "2.0.0"]).values()) == {"1.2.4"}


def test_the_affix_of_the_strategy_applies_to_versions_present() -> None:
    rules = tag_rules("1.2.4", ["v1.2.4-alpine", "v1.2-alpine", "v1-alpine"], latest=False)
    assert floating_sources(rules, ["v1.2.4-alpine", "v1.3.0-alpine", "1.9.0"]) == {
        "v1.2-alpine": "v1.2.4-alpine",
        "v1-alpine": "v1.3.0-alpine",
    }


def test_held_back_reasons_name_the_release_the_tag_names() -> None:
    p = plan_promotion("1.2.4", RELEASE, ["1.3.0"], latest=True)
    assert {h.tag: h.reason for h in p.held_back}["1"] == "1.3.0 is newer than 1.2.4 and already released; 1 names 1.3.0"


# Immutable release tags -------------------------------------------------------------------------

OURS, THEIRS = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_a_version_tag_naming_other_content_is_refused_naming_both_digests_and_the_option() -> None:
    rules = tag_rules("3.0.0", ["3.0.0", "3.0", "3", "latest"], latest=True)
    with pytest.raises(ReleaseTagTaken) as caught:
        check_release_tags(rules, {"reg/app": {"3.0.0": THEIRS}}, OURS, allow_overwrite=False)
    message = str(caught.value)
    assert isinstance(caught.value, InvalidInput) and caught.value.exit_code == 2
    assert "reg/app:3.0.0" in message and OURS in message and THEIRS in message and "--allow-overwrite" in message


def test_the_same_content_or_an_absent_tag_passes_and_overwrite_says_from_where() -> None:
    rules = tag_rules("3.0.0", ["3.0.0", "latest"], latest=True)
    assert check_release_tags(rules, {"reg/app": {"3.0.0": OURS}, "reg/new": {"3.0.0": None}}, OURS, allow_overwrite=False) == []
    notices = check_release_tags(rules, {"reg/app": {"3.0.0": THEIRS}}, OURS, allow_overwrite=True)
    assert notices == [f"reg/app:3.0.0 overwritten: it named {THEIRS}, now {OURS} (--allow-overwrite)"]


def test_floating_tags_are_never_immutable() -> None:
    rules = tag_rules("3.0.0", ["3.0.0", "3.0", "3", "latest"], latest=True)
    assert check_release_tags(rules, {"reg/app": {"latest": THEIRS, "3": THEIRS}}, OURS, allow_overwrite=False) == []


# What happened to each tag ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "wrote", "undone", "expected"),
    [
        (None, OURS, True, False, Outcome.CREATED),
        (THEIRS, OURS, True, False, Outcome.MOVED),
        (OURS, OURS, False, False, Outcome.KEPT),
        (THEIRS, THEIRS, False, False, Outcome.HELD_BACK),
        (None, THEIRS, False, False, Outcome.HELD_BACK),  # another release created it meanwhile
        (None, THEIRS, True, False, Outcome.MOVED),  # this release pointed it at a newer one
        (THEIRS, THEIRS, True, True, Outcome.RESTORED),
        (None, None, True, True, Outcome.DELETED),
        (None, None, False, True, Outcome.KEPT),  # never landed
        (None, OURS, True, True, Outcome.LEFT),  # a registry that cannot delete a tag
    ],
)
def test_tag_outcome(before: str | None, after: str | None, wrote: bool, undone: bool, expected: Outcome) -> None:
    assert tag_outcome(before, after, OURS, wrote=wrote, undone=undone) is expected


def test_a_tag_that_could_not_be_read_back_is_unknown() -> None:
    assert tag_outcome(None, None, OURS, wrote=True, undone=False, read=False) is Outcome.UNKNOWN


def test_a_floating_tag_is_foreign_unless_it_names_a_release_with_its_version_tag() -> None:
    rules = tag_rules("1.2.4", RELEASE, latest=True)
    assert not is_foreign("1.2.3", rules, ["1.2.3", "latest"])
    assert is_foreign("1.2.3", rules, ["latest"])  # no version tag names it any more
    assert is_foreign(None, rules, ["1.2.3"])  # not an image Shipyard made
