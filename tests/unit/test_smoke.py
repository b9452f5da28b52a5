"""The smoke test's flags, Docker's health check timing and the verdict per platform (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.gates.smoke import (
    CheckKind,
    Health,
    Healthcheck,
    HealthState,
    PlatformSmoke,
    ServiceRun,
    SmokeReport,
    deadline,
    parse_duration,
    parse_env_file,
    platform_result,
    smoke_plan,
    smoke_platforms,
)
from shipyard.release.config import SmokeTest
from shipyard.release.plan import build_release_plan
from shipyard.values.platforms import parse_platforms

RELEASE = parse_platforms(["linux/amd64", "linux/arm64", "linux/arm/v7"])
SHELL = Healthcheck(CheckKind.CMD_SHELL, ("wget -q -O - http://localhost:8080/health",), interval=2, timeout=5, retries=3, start_period=10)


def lines(*events: dict[str, object]) -> str:
    return "\n".join(json.dumps(e) for e in events)


# --- flags ------------------------------------------------------------------------------


def test_no_port_and_no_compose_service_means_no_smoke_test() -> None:
    assert smoke_plan(platforms=RELEASE, app=None) is None


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((0,), "--smoke-port"),
        ((70000,), "--smoke-port"),
        ((8080, "health"), "--smoke-path"),
        ((8080, "/a b"), "--smoke-path"),
        ((8080, "/", None, 0), "--smoke-timeout"),
        ((None, "/health"), "--smoke-path"),
        ((None, "/", None, None, "/etc/compose.yaml"), "--smoke-compose"),
        ((None, "/", None, None, "../compose.yaml"), "--smoke-compose"),
    ],
)
def test_bad_smoke_flags_are_refused_naming_the_flag(args: tuple[object, ...], named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        SmokeTest.from_args(*args)  # type: ignore[arg-type]
    assert caught.value.name == named


@pytest.mark.parametrize(("cmd", "timeout", "named"), [(("serve",), None, "--smoke-cmd"), ((), 5, "--smoke-timeout")])
def test_smoke_options_without_a_smoke_test_are_refused(cmd: tuple[str, ...], timeout: int | None, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        smoke_plan(platforms=RELEASE, app=None, cmd=cmd, timeout=timeout)
    assert caught.value.name == named


def test_smoke_port_is_an_http_check_inside_the_container_on_every_platform() -> None:
    plan = smoke_plan(platforms=RELEASE, app=None, port=8080, path="/health", cmd=("serve",))
    assert plan is not None and plan.platforms == RELEASE
    assert plan.check.kind is CheckKind.HTTP and plan.check.args == ("8080", "/health") and plan.check.retries is None
    assert plan.app.command == ("serve",)


def test_smoke_port_replaces_the_compose_healthcheck_and_keeps_the_rest() -> None:
    app = ServiceRun(name="web", environment=(("A", "1"),), healthcheck=SHELL)
    plan = smoke_plan(platforms=RELEASE, app=app, compose_source="compose.yaml service web", port=9000)
    assert plan is not None and plan.check.kind is CheckKind.HTTP and plan.app.environment == (("A", "1"),)
    compose_only = smoke_plan(platforms=RELEASE, app=app, compose_source="compose.yaml service web")
    assert compose_only is not None and compose_only.check == SHELL and compose_only.source == "compose.yaml service web"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", RELEASE),
        ("", RELEASE),
        ("native", None),
        ("none", ()),
        ("linux/arm/v7", parse_platforms(["linux/arm/v7"])),
        ("linux/arm64, linux/amd64", parse_platforms(["linux/arm64", "linux/amd64"])),
    ],
)
def test_smoke_platforms(text: str, expected: object) -> None:
    assert smoke_platforms(text, RELEASE) == expected


@pytest.mark.parametrize("text", ["linux/s390x", "windows/amd64", "linux/arm64,banana"])
def test_smoke_platforms_outside_the_release_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        smoke_platforms(text, RELEASE)
    assert caught.value.name == "--smoke-platforms"


def test_foreign_platforms_get_a_longer_default_deadline() -> None:
    assert deadline(None, native=True) == 60 and deadline(None, native=False) == 180
    assert deadline(30, native=False) == 30


def test_the_plan_runs_the_smoke_test_before_tags_move() -> None:
    smoke = smoke_plan(platforms=RELEASE, app=None, port=8080)
    plan = build_release_plan(tag="v1.0.0", platforms=[str(p) for p in RELEASE], smoke=smoke)
    names = [s.name for s in plan.steps]
    assert names.index("smoke") < names.index("promote")
    step = next(s for s in plan.steps if s.name == "smoke")
    assert "linux/arm/v7" in step.description and "localhost:8080" in step.description


# --- Docker's timing rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("1.5s", 1.5), ("2m3s4ms", 123.004)]
)
def test_compose_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, what="interval") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "ten seconds", "-5s", "5 s", "1d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text, what="interval")


def test_failures_inside_the_start_period_do_not_count() -> None:
    state = HealthState(SHELL)  # retries 3, start_period 10s
    for started in (1.0, 3.0, 5.0, 7.0, 9.9):
        assert state.record(started, 1) is Health.STARTING
    assert state.failing_streak == 0
    assert state.record(10.0, 1) is Health.STARTING and state.record(12.0, 1) is Health.STARTING
    assert state.record(14.0, 1) is Health.UNHEALTHY  # the third counted failure


def test_a_pass_inside_the_start_period_is_healthy_at_once() -> None:
    state = HealthState(SHELL)
    assert state.record(1.0, 1) is Health.STARTING
    assert state.record(2.0, 0) is Health.HEALTHY and state.failing_streak == 0


def test_any_nonzero_exit_and_a_timeout_are_failures() -> None:
    check = Healthcheck(CheckKind.CMD, ("true",), retries=2)
    state = HealthState(check)
    assert state.record(30.0, 2) is Health.STARTING
    assert state.record(60.0, -1) is Health.UNHEALTHY


def test_without_retries_only_the_deadline_ends_the_http_check() -> None:
    state = HealthState(Healthcheck.http(8080, "/"))
    for started in range(1, 200):
        assert state.record(float(started), 1) is Health.STARTING


def test_start_interval_applies_only_inside_the_start_period_before_health() -> None:
    check = Healthcheck(CheckKind.CMD, ("x",), interval=30, start_period=20, start_interval=2)
    assert check.delay(0.0, healthy=False) == 2 and check.delay(19.0, healthy=False) == 2
    assert check.delay(20.0, healthy=False) == 30 and check.delay(5.0, healthy=True) == 30
    assert Healthcheck(CheckKind.CMD, ("x",)).delay(0.0, healthy=False) == 30  # no start period: the interval


@given(st.lists(st.booleans(), max_size=30), st.integers(1, 5))
def test_unhealthy_exactly_after_retries_consecutive_failures(passes: list[bool], retries: int) -> None:
    """Past the start period: the first pass is healthy; ``retries`` failures in a row before it are unhealthy."""
    state = HealthState(Healthcheck(CheckKind.CMD, ("x",), retries=retries))
    streak, expected = 0, Health.STARTING
    for n, ok in enumerate(passes):
        status = state.record(float(n), 0 if ok else 1)
        streak = 0 if ok else streak + 1
        expected = Health.HEALTHY if ok else (Health.UNHEALTHY if streak >= retries else Health.STARTING)
        assert status is expected
        if expected is not Health.STARTING:
            break


# --- the verdict from the supervisor's lines ------------------------------------------------


def test_a_healthy_platform_passes_with_its_time_and_checks() -> None:
    out = lines(
        {"event": "start"},
        {"event": "check", "start": 1.0, "exit": 1, "output": "wget: connection refused"},
        {"event": "check", "start": 2.0, "exit": 0, "output": "ok from linux/arm"},
        {"event": "end", "status": "healthy", "logs": ["listening on :8080"]},
    )
    result = platform_result("linux/arm/v7", SHELL, out, 4.2)
    assert result.passed and result.to_dict()["checks"] == 2 and result.to_dict()["seconds"] == 4.2
    assert "healthy after 4.2s" in result.describe()


def test_an_unhealthy_platform_fails_naming_the_check_output_and_the_log() -> None:
    checks = [{"event": "check", "start": 10.0 + i, "exit": 1, "output": "wget: server returned error: HTTP 500"} for i in range(3)]
    out = lines(*checks, {"event": "end", "status": "unhealthy", "logs": ["listening on :8080", "GET /health 500"]})
    result = platform_result("linux/arm/v7", SHELL, out, 15.0)
    assert not result.passed and result.status == "unhealthy"
    text = result.describe()
    assert "linux/arm/v7" in text and "HTTP 500" in text and "GET /health 500" in text and "CMD-SHELL wget" in text
    report = SmokeReport("compose.yaml service app", (PlatformSmoke("linux/amd64", "x", "healthy", 1.0), result))
    assert not report.passed and report.failed == (result,)
    assert report.describe_failure().startswith("smoke test failed on linux/arm/v7 (compose.yaml service app)")


def test_the_verdict_follows_the_checks_not_the_supervisors_word() -> None:
    """The supervisor says healthy, but its only check failed: the replay says otherwise."""
    out = lines({"event": "check", "start": 30.0, "exit": 1, "output": "no"}, {"event": "end", "status": "healthy", "logs": []})
    assert platform_result("linux/amd64", SHELL, out, 1.0).status == "error"


@pytest.mark.parametrize(
    ("end", "status", "detail"),
    [
        ({"event": "end", "status": "exited", "code": 2, "logs": ["panic"]}, "exited", "exit code 2"),
        ({"event": "end", "status": "timeout", "deadline": 60, "logs": []}, "timeout", "60s"),
    ],
)
def test_an_exited_or_slow_app_fails(end: dict[str, object], status: str, detail: str) -> None:
    result = platform_result("linux/amd64", SHELL, lines(end), 3.0)
    assert not result.passed and result.status == status and result.detail == detail


def test_no_verdict_is_an_error_with_the_output() -> None:
    result = platform_result("linux/amd64", SHELL, "exec format error", 0.1)
    assert result.status == "error" and "exec format error" in result.detail


def test_none_passes_when_the_process_keeps_running() -> None:
    result = platform_result("linux/amd64", Healthcheck(CheckKind.NONE), lines({"event": "end", "status": "healthy", "logs": []}), 5.1)
    assert result.passed


# --- Compose's process and environment rules -------------------------------------------------


@pytest.mark.parametrize(
    ("entrypoint", "command", "expected"),
    [
        (None, None, ["/app", "serve"]),
        (None, ("version",), ["/app", "version"]),
        (("/bin/sh", "-c"), None, ["/bin/sh", "-c"]),  # Docker: a new entrypoint drops the image's CMD
        (("/bin/sh", "-c"), ("echo hi",), ["/bin/sh", "-c", "echo hi"]),
        ((), ("/other",), ["/other"]),
    ],
)
def test_entrypoint_and_command(entrypoint: tuple[str, ...] | None, command: tuple[str, ...] | None, expected: list[str]) -> None:
    assert ServiceRun(name="a", entrypoint=entrypoint, command=command).argv(["/app"], ["serve"]) == expected


def test_environment_wins_over_env_files() -> None:
    run = ServiceRun(name="a", environment=(("A", "env"),), env_files=(("a.env", True),))
    merged = run.with_env([("A", "file"), ("B", "file")])
    assert dict(merged.environment) == {"A": "env", "B": "file"} and merged.env_files == ()


def test_env_files() -> None:
    text = "# comment\n\nA=1\nexport B = two words\nC='quoted # not a comment'\nD=x # comment\nE=\n"
    assert parse_env_file(text, what="app.env") == [("A", "1"), ("B", "two words"), ("C", "quoted # not a comment"), ("D", "x"), ("E", "")]
    with pytest.raises(InvalidInput) as caught:
        parse_env_file("A=1\nnot a line\n", what="app.env")
    assert "line 2" in str(caught.value)


def test_a_long_check_output_keeps_its_end_where_the_reason_is() -> None:
    frames = '  File "x.py", line 1, in f\n' * 50
    traceback = f"Traceback (most recent call last):\n{frames}ConnectionRefusedError: [Errno 111] Connection refused\n"
    out = lines({"event": "check", "start": 30.0, "exit": 1, "output": traceback}, {"event": "end", "status": "unhealthy", "logs": []})
    text = platform_result("linux/amd64", Healthcheck(CheckKind.CMD, ("x",), retries=1), out, 1.0).describe()
    assert text.endswith("Connection refused") and len(text) < 600
