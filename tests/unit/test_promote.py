"""Floating tags never go backwards: which tags a release moves, per repository."""

from __future__ import annotations

import pytest

from shipyard.plan.promote import plan_promotion

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
