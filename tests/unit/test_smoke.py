"""The smoke test's flags and verdict (pure): healthy is HTTP 2xx; a failure names what it got."""

from __future__ import annotations

import pytest

from shipyard.plan.config import SmokeTest
from shipyard.plan.errors import InvalidInput
from shipyard.plan.plan import build_release_plan
from shipyard.plan.smoke import smoke_result

HEALTH = SmokeTest(port=8080, path="/health", timeout=10)


def test_no_smoke_port_means_no_smoke_test() -> None:
    assert SmokeTest.from_args(None) is None
    assert SmokeTest.from_args(8080, "/health", ["serve"], 5) == SmokeTest(port=8080, path="/health", cmd=("serve",), timeout=5)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((0,), "--smoke-port"),
        ((70000,), "--smoke-port"),
        ((8080, "health"), "--smoke-path"),
        ((8080, "/a b"), "--smoke-path"),
        ((8080, "/", None, 0), "--smoke-timeout"),
        ((None, "/health"), "--smoke-path"),
        ((None, "/", ["serve"]), "--smoke-cmd"),
        ((None, "/", None, 5), "--smoke-timeout"),
    ],
)
def test_bad_smoke_flags_are_refused_naming_the_flag(args: tuple[object, ...], named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        SmokeTest.from_args(*args)  # type: ignore[arg-type]
    assert caught.value.name == named


def test_the_plan_runs_the_smoke_test_before_tags_move() -> None:
    plan = build_release_plan(tag="v1.0.0", smoke=HEALTH)
    names = [s.name for s in plan.steps]
    assert names.index("smoke-test") < names.index("promote-tags")


@pytest.mark.parametrize(("status", "passed"), [(200, True), (204, True), (301, False), (500, False)])
def test_only_a_2xx_answer_passes(status: int, passed: bool) -> None:
    result = smoke_result("linux/amd64", HEALTH, f'{{"status": {status}, "error": null, "attempts": 3}}\n')
    assert result.passed is passed
    assert result.to_dict()["status"] == status


def test_a_failure_names_port_path_platform_and_the_last_answer() -> None:
    refused = smoke_result("linux/amd64", HEALTH, '{"status": null, "error": "ConnectionRefusedError: refused", "attempts": 9}')
    assert not refused.passed
    text = refused.describe()
    assert ":8080/health" in text and "linux/amd64" in text and "ConnectionRefusedError: refused" in text and "10s" in text
    assert "HTTP 500" in smoke_result("linux/amd64", HEALTH, '{"status": 500, "error": null, "attempts": 1}').describe()


def test_a_probe_that_prints_no_result_fails_with_its_output() -> None:
    result = smoke_result("linux/amd64", HEALTH, "Traceback: boom")
    assert not result.passed and "boom" in (result.error or "")
