"""The smoke test (pure): what runs, how its health is judged, and the verdict per platform.

The health check follows Docker's rules (moby ``daemon/health.go``): the first check runs one
``interval`` after the container starts (``start_interval`` while inside ``start_period`` and not
yet healthy); a check passes with exit code 0; a failing check counts towards ``retries`` only
after ``start_period``; ``retries`` consecutive failures make the container unhealthy. The
supervisor in the container (``steps/supervisor/main.go``) runs that schedule and prints each
check as a JSON line; :func:`platform_result` replays those lines through :class:`HealthState`,
so the verdict is decided here, by the same rules, from what really ran.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.values.platforms import Platform, parse_platforms

# Docker's defaults for a healthcheck that leaves a value out.
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096  # bytes of a check's output Docker keeps
NONE_GRACE = 5.0  # no health check: the process must still run this many seconds after it started

# The whole smoke test of one platform (all checks included) ends within this many seconds;
# a foreign platform runs under QEMU, so it gets longer.
NATIVE_DEADLINE = 60
FOREIGN_DEADLINE = 180

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, what: str) -> float:
    """A Compose duration (``1m30s``, ``10s``, ``500ms``; Go's syntax, no sign) in seconds."""
    value = text.strip()
    if not value or _DURATION.sub("", value) != "":
        raise InvalidInput(what, text, "is not a duration", "Write e.g. 10s, 1m30s or 500ms.")
    return sum(float(n) * _UNIT[unit] for n, unit in _DURATION.findall(value))


class CheckKind(StrEnum):
    """How a health check runs: a command (``CMD``), a shell line (``CMD-SHELL``, the image's
    ``/bin/sh -c``), an HTTP GET on the container's own loopback (``--smoke-port``; needs nothing
    in the image), or ``NONE``: the process must keep running."""

    CMD = "CMD"
    CMD_SHELL = "CMD-SHELL"
    HTTP = "HTTP"
    NONE = "NONE"


@dataclass(frozen=True)
class Healthcheck:
    """One health check with Docker's timing; ``retries`` None: keep trying until the deadline."""

    kind: CheckKind
    args: tuple[str, ...] = ()  # CMD: argv; CMD-SHELL: (line,); HTTP: (port, path)
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int | None = DEFAULT_RETRIES
    start_period: float = 0.0
    start_interval: float = DEFAULT_START_INTERVAL

    @classmethod
    def http(cls, port: int, path: str) -> Healthcheck:
        """``GET http://localhost:PORT/PATH`` every second until it answers 2xx (``--smoke-port``)."""
        return cls(CheckKind.HTTP, (str(port), path), interval=1.0, timeout=10.0, retries=None)

    def delay(self, since_start: float, healthy: bool) -> float:
        """Seconds until the next check, when the last one ended ``since_start`` seconds after start."""
        if not healthy and since_start < self.start_period:
            return self.start_interval
        return self.interval

    def describe(self) -> str:
        if self.kind is CheckKind.HTTP:
            return f"GET http://localhost:{self.args[0]}{self.args[1]}"
        if self.kind is CheckKind.NONE:
            return f"the process keeps running {NONE_GRACE:g}s"
        return f"{self.kind.value} {' '.join(self.args)}"

    def to_spec(self) -> dict[str, Any]:
        """What the supervisor reads (``test`` as Docker writes it; times in seconds)."""
        return {
            "test": [self.kind.value, *self.args],
            "interval": self.interval,
            "timeout": self.timeout,
            "retries": self.retries or 0,  # 0: until the deadline
            "start_period": self.start_period,
            "start_interval": self.start_interval,
            "grace": NONE_GRACE,
        }


class Health(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass
class HealthState:
    """Docker's health status as checks come in (``handleProbeResult``)."""

    check: Healthcheck
    status: Health = Health.STARTING
    failing_streak: int = 0

    def record(self, started: float, exit_code: int) -> Health:
        """A check that started ``started`` seconds after the container and ended with ``exit_code``."""
        if exit_code == 0:
            self.failing_streak = 0
            self.status = Health.HEALTHY
            return self.status
        if self.status is Health.STARTING and started < self.check.start_period:
            return self.status  # inside the start period: a failure does not count
        self.failing_streak += 1
        if self.check.retries is not None and self.failing_streak >= self.check.retries:
            self.status = Health.UNHEALTHY
        return self.status


@dataclass(frozen=True)
class CheckRun:
    """One health check as the supervisor ran it."""

    started: float  # seconds after the app started
    exit_code: int  # -1: it timed out or could not start
    output: str


@dataclass(frozen=True)
class PlatformSmoke:
    """One platform's smoke test: the verdict, how long it took, what the check and the app said."""

    platform: str
    check: str  # the check as users read it
    status: str  # healthy, unhealthy, exited, timeout, error
    seconds: float
    checks: tuple[CheckRun, ...] = ()
    logs: tuple[str, ...] = ()  # the app's last log lines
    detail: str = ""  # exited: the exit code; timeout: the deadline; error: what went wrong

    @property
    def passed(self) -> bool:
        return self.status == Health.HEALTHY

    @property
    def last_output(self) -> str:
        return self.checks[-1].output.strip() if self.checks else ""

    def describe(self) -> str:
        """One line: the platform, the check, the verdict and why."""
        where = f"{self.platform}: {self.check}"
        if self.passed:
            return f"{where}: healthy after {self.seconds:.1f}s ({len(self.checks)} check(s))"
        why = {
            "unhealthy": f"unhealthy after {len(self.checks)} check(s) in {self.seconds:.1f}s",
            "exited": f"the app exited ({self.detail}) after {self.seconds:.1f}s",
            "timeout": f"not healthy within {self.detail} ({len(self.checks)} check(s))",
        }.get(self.status, self.detail or self.status)
        text = f"{where}: {why}"
        if self.checks:
            text += f"; last check exited {self.checks[-1].exit_code}: {_one_line(self.last_output) or '(no output)'}"
        if self.logs:
            text += f"; app log: {_one_line(' | '.join(self.logs[-5:]))}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "result": "passed" if self.passed else "failed",
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "check": self.check,
            "checks": len(self.checks),
            "exit_code": self.checks[-1].exit_code if self.checks else None,
            "output": self.last_output,
            "logs": list(self.logs),
            "detail": self.detail,
        }


def _one_line(text: str, limit: int = 400) -> str:
    """On one line; a long text keeps its end (where a failing command says why)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else "..." + flat[-(limit - 3) :]


def platform_result(platform: str, check: Healthcheck, output: str, seconds: float) -> PlatformSmoke:
    """The verdict from the supervisor's JSON lines: the checks replayed through Docker's rules;
    the app's exit, the deadline and the last log lines as the supervisor reported them."""
    checks: list[CheckRun] = []
    end: dict[str, Any] | None = None
    for line in output.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("event") == "check":
            checks.append(CheckRun(float(event.get("start", 0)), int(event.get("exit", -1)), str(event.get("output", ""))[:MAX_OUTPUT]))
        elif event.get("event") == "end":
            end = event
    if end is None:
        detail = f"the supervisor reported no verdict: {_one_line(output[-600:]) or 'no output'}"
        return PlatformSmoke(platform, check.describe(), "error", seconds, tuple(checks), detail=detail)
    logs = tuple(str(line) for line in end.get("logs") or [])
    state = HealthState(check)
    for run in checks:
        if state.record(run.started, run.exit_code) is not Health.STARTING:
            break
    reported = str(end.get("status", ""))
    if check.kind is CheckKind.NONE and reported == Health.HEALTHY:
        status = Health.HEALTHY.value
    elif state.status is not Health.STARTING:
        status = state.status.value
    else:
        status = reported if reported in ("exited", "timeout") else "error"
    detail = {"exited": f"exit code {end.get('code')}", "timeout": f"{end.get('deadline')}s"}.get(status, "")
    if status == "error":
        detail = f"the supervisor said {reported!r} but its checks say {state.status.value}"
    return PlatformSmoke(platform, check.describe(), status, seconds, tuple(checks), logs, detail)


@dataclass(frozen=True)
class SmokeReport:
    """Every platform's smoke test; it passes when each platform's does."""

    source: str  # where the check came from: "compose.yaml service app" or "--smoke-port"
    results: tuple[PlatformSmoke, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[PlatformSmoke, ...]:
        return tuple(r for r in self.results if not r.passed)

    def describe_failure(self) -> str:
        names = ", ".join(r.platform for r in self.failed)
        return f"smoke test failed on {names} ({self.source}): " + "; ".join(r.describe() for r in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "passed" if self.passed else "failed",
            "source": self.source,
            "platforms": [r.to_dict() for r in self.results],
        }


def smoke_platforms(text: str, release: tuple[Platform, ...]) -> tuple[Platform, ...] | None:
    """``--smoke-platforms``: ``all`` (the release's), ``native`` (None: the engine decides), or a
    comma-separated list of release platforms; ``none`` gives an empty tuple (no smoke test)."""
    value = text.strip().lower() or "all"
    if value == "all":
        return release
    if value == "native":
        return None
    if value == "none":
        return ()
    try:
        asked = parse_platforms([p for p in value.split(",") if p.strip()])
    except InvalidInput as exc:
        raise InvalidInput("--smoke-platforms", text, exc.problem, "Write all, native, none or platforms of the release.") from None
    missing = [str(p) for p in asked if p not in release]
    if missing:
        built = ",".join(map(str, release))
        raise InvalidInput("--smoke-platforms", text, f"names {', '.join(missing)}, which this release does not build ({built})",
                           "Smoke-test platforms the release builds, or give all.")  # fmt: skip
    return asked


def deadline(timeout: int | None, *, native: bool) -> int:
    """Seconds one platform's smoke test may take: ``--smoke-timeout``, else 60 native, 180 foreign."""
    if timeout is not None:
        return timeout
    return NATIVE_DEADLINE if native else FOREIGN_DEADLINE


@dataclass(frozen=True)
class ServiceRun:
    """How one container runs in the smoke test: Compose's settings, or none (the image's own)."""

    name: str
    image: str = ""  # a dependency's image; empty for the released image
    entrypoint: tuple[str, ...] | None = None  # None: the image's; setting it drops the image's CMD (Docker's rule)
    command: tuple[str, ...] | None = None  # None: the image's CMD
    environment: tuple[tuple[str, str], ...] = ()
    env_files: tuple[tuple[str, bool], ...] = ()  # (path in the source, required), read before the run
    user: str = ""
    working_dir: str = ""
    ports: tuple[int, ...] = ()  # container ports (nothing is published to a host here)
    volumes: tuple[str, ...] = ()  # mount points, each a fresh empty volume
    healthcheck: Healthcheck | None = None  # None: none declared, or disabled
    depends_on: tuple[tuple[str, bool], ...] = ()  # (service, wait until healthy)

    def argv(self, image_entrypoint: list[str], image_cmd: list[str]) -> list[str]:
        """The process Docker starts: entrypoint + command, each from Compose or the image."""
        entrypoint = list(self.entrypoint) if self.entrypoint is not None else image_entrypoint
        if self.command is not None:
            return entrypoint + list(self.command)
        command = [] if self.entrypoint is not None else image_cmd
        return entrypoint + command

    def with_env(self, values: list[tuple[str, str]]) -> ServiceRun:
        """``env_file`` values first, then ``environment`` (which wins, as in Compose)."""
        merged = dict(values)
        merged.update(dict(self.environment))
        return replace(self, environment=tuple(merged.items()), env_files=())


@dataclass(frozen=True)
class SmokePlan:
    """The smoke test of a release: the app (and the services it depends on), its check, and
    on which platforms it runs (None: the engine's native one)."""

    source: str
    app: ServiceRun
    check: Healthcheck
    dependencies: tuple[ServiceRun, ...] = ()  # started first, dependencies before dependants
    platforms: tuple[Platform, ...] | None = None
    timeout: int | None = None  # --smoke-timeout; None: 60s native, 180s foreign

    def describe(self) -> str:
        where = "the native platform" if self.platforms is None else ", ".join(map(str, self.platforms))
        deps = f" after {', '.join(d.name for d in self.dependencies)}" if self.dependencies else ""
        return f"run the image on {where}{deps}; {self.check.describe()} must pass ({self.source})"


_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)")


def parse_env_file(text: str, *, what: str) -> list[tuple[str, str]]:
    """A Compose ``env_file``: ``NAME=value`` lines, ``#`` comments, values optionally quoted."""
    out: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if not match:
            raise InvalidInput(what, raw, f"line {number} is not NAME=value", "Write one NAME=value a line.")
        name, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out.append((name, value))
    return out


def smoke_plan(
    *,
    platforms: tuple[Platform, ...] | None,
    app: ServiceRun | None,
    dependencies: tuple[ServiceRun, ...] = (),
    compose_source: str = "",
    port: int | None = None,
    path: str = "/",
    cmd: tuple[str, ...] = (),
    timeout: int | None = None,
) -> SmokePlan | None:
    """The smoke test from the flags and the compose service (None: no smoke test). ``--smoke-port``
    replaces the service's healthcheck with an HTTP GET; ``--smoke-cmd`` replaces its command."""
    if platforms == ():
        return None
    if app is None and port is None:
        if cmd:
            raise InvalidInput("--smoke-cmd", list(cmd), "is given without a smoke test", "Add --smoke-port PORT or --smoke-compose FILE.")
        if timeout is not None:
            raise InvalidInput(
                "--smoke-timeout", timeout, "is given without a smoke test", "Add --smoke-port PORT or --smoke-compose FILE."
            )
        return None
    run = app or ServiceRun(name="app")
    if cmd:
        run = replace(run, command=cmd)
    if port is not None:
        check, source = Healthcheck.http(port, path), "--smoke-port" + (f" with {compose_source}" if app else "")
    else:
        check, source = run.healthcheck or Healthcheck(CheckKind.NONE), compose_source
    return SmokePlan(source=source, app=run, check=check, dependencies=dependencies, platforms=platforms, timeout=timeout)
