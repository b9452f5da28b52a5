"""The smoke test: each platform's image, as built in this release, runs its process under a
small supervisor that runs the health check inside the same container, as Docker does.

The supervisor (``supervisor/main.go``, Go's standard library only) is built once per platform
in the engine from the ``golang`` tool image, static, and cached by its source; it is mounted
into the app's container, starts the image's entrypoint + command as its child, runs the check
(``CMD``, ``CMD-SHELL`` through the image's ``/bin/sh``, ``NONE``, or ``--smoke-port``'s HTTP GET,
which needs nothing in the image) and prints each check and the verdict as JSON lines, with the
app's last log lines. Foreign platforms run under the engine's QEMU, supervisor included.

Services the app ``depends_on`` run first as services under their Compose names, each under the
supervisor in serve mode: it opens :data:`READY_PORT` once the service is healthy (at once for
``service_started``), and the engine starts the app only when that port answers.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
import dagger
from dagger import dag

from shipyard.errors import GateFailed
from shipyard.gates.smoke import CheckKind, Healthcheck, PlatformSmoke, ServiceRun, SmokePlan, SmokeReport, deadline, platform_result
from shipyard.steps.context import ReleaseContext
from shipyard.steps.tools import engine_reason, go_helper
from shipyard.values.platforms import Platform, parse_platforms

SUPERVISOR = "/.shipyard-smoke/supervisor"
READY_PORT = 64999
LOG_LINES = 20


class SmokeFailed(GateFailed):
    """The image did not pass its health check on some platform."""


def supervisor_binary(golang_image: str, platform: Platform) -> dagger.File:
    """The supervisor built for ``platform`` (static; cross-compiled on the engine's platform)."""
    return go_helper(golang_image, "supervisor", platform)


async def run(ctx: ReleaseContext) -> None:
    """The ``smoke`` step: every smoke-tested platform's image must pass its health check before any tag moves."""
    plan, made = ctx.job.plan, ctx.artifacts
    assert plan.smoke is not None
    made.smoke = await smoke_test(plan.smoke, made.containers, plan.tools.golang)
    if not made.smoke.passed:
        raise SmokeFailed(made.smoke.describe_failure())


async def native_platform(platforms: Mapping[Platform, object]) -> Platform:
    """The release platform the engine runs natively (``--smoke-platforms native``)."""
    engine = str(await dag.default_platform())
    (native,) = parse_platforms([engine])
    if native not in platforms:
        built = ", ".join(str(p) for p in platforms)
        raise SmokeFailed(
            f"smoke test: the engine runs {native}, which this release does not build ({built});"
            " give --smoke-platforms all or a list of the release's platforms"
        )
    return native


def _spec(check: Healthcheck, seconds: int, *, serve: bool = False) -> str:
    """The supervisor's argument; a fresh ``run`` id, so the engine never reuses an earlier verdict.
    A service no one waits for (``service_started``) is ready as soon as its process runs."""
    spec = {**check.to_spec(), "deadline": seconds, "log_lines": LOG_LINES, "serve": serve, "ready_port": READY_PORT}
    if serve and check.kind is CheckKind.NONE:
        spec["grace"] = 0.0
    return json.dumps({**spec, "run": uuid.uuid4().hex}, sort_keys=True)


async def _prepared(container: dagger.Container, run: ServiceRun, supervisor: dagger.File) -> tuple[dagger.Container, list[str]]:
    """The container with Compose's settings applied, and the process Docker would start."""
    argv = run.argv(await container.entrypoint() or [], await container.default_args() or [])
    container = container.with_mounted_file(SUPERVISOR, supervisor)
    for name, value in run.environment:
        container = container.with_env_variable(name, value)
    if run.user:
        container = container.with_user(run.user)
    if run.working_dir:
        container = container.with_workdir(run.working_dir)
    owner = run.user or await container.user()
    for target in run.volumes:  # a fresh named volume: empty, writable by the container's user
        container = container.with_mounted_directory(target, dag.directory(), owner=owner or None)
    for port in run.ports:
        container = container.with_exposed_port(port, experimental_skip_healthcheck=True)
    return container, argv


@dataclass(frozen=True)
class _Dependency:
    """A service the app depends on, and how to run it once more in the open when it failed."""

    service: dagger.Service
    container: dagger.Container
    argv: list[str]
    check: Healthcheck

    async def why_not_ready(self, name: str, seconds: int) -> str:
        """The service run once more as a plain exec: its checks' output and its last log lines
        (a service that fails to start shows the engine only its exit code)."""
        run = self.container.with_exec([SUPERVISOR, _spec(self.check, seconds), "--", *self.argv], use_entrypoint=False,
                                       expect=dagger.ReturnType.ANY)  # fmt: skip
        try:
            return platform_result(name, self.check, await run.stdout(), 0.0).describe()
        except dagger.QueryError as exc:
            return _reason(exc)


async def _dependencies(plan: SmokePlan, supervisor: dagger.File, seconds: int) -> dict[str, _Dependency]:
    """Each dependency as a service (dependencies first), ready once healthy when waited for so."""
    services: dict[str, _Dependency] = {}
    waited = {name for run in (plan.app, *plan.dependencies) for name, healthy in run.depends_on if healthy}
    for run in plan.dependencies:
        container = dag.container().from_(run.image)
        for name, _ in run.depends_on:
            container = container.with_service_binding(name, services[name].service)
        container, argv = await _prepared(container, run, supervisor)
        check = run.healthcheck if run.name in waited and run.healthcheck is not None else Healthcheck(CheckKind.NONE)
        args = [SUPERVISOR, _spec(check, seconds, serve=True), "--", *argv]
        service = container.with_exposed_port(READY_PORT).as_service(args=args, use_entrypoint=False)
        services[run.name] = _Dependency(service, container, argv, check)
    return services


async def _run_platform(
    plan: SmokePlan, platform: Platform, container: dagger.Container, golang_image: str, native: Platform
) -> PlatformSmoke:
    seconds = deadline(plan.timeout, native=platform == native)
    started = time.monotonic()
    started_services: list[dagger.Service] = []
    try:
        dependencies = await _dependencies(plan, supervisor_binary(golang_image, native), seconds)
        for name, dependency in dependencies.items():  # in order, so a failure names its service
            try:
                started_services.append(await dependency.service.start())
            except dagger.QueryError:
                detail = f"the service it depends on, {name}, did not become ready: {await dependency.why_not_ready(name, seconds)}"
                return PlatformSmoke(str(platform), plan.check.describe(), "error", time.monotonic() - started, detail=detail)
        app, argv = await _prepared(container, plan.app, supervisor_binary(golang_image, platform))
        if not argv:
            detail = "the image has no entrypoint or command, and the compose service gives none"
            return PlatformSmoke(str(platform), plan.check.describe(), "error", 0.0, detail=detail)
        for name, dependency in dependencies.items():
            app = app.with_service_binding(name, dependency.service)
        run = app.with_exec([SUPERVISOR, _spec(plan.check, seconds), "--", *argv], use_entrypoint=False, expect=dagger.ReturnType.ANY)
        output = await run.stdout()
    except dagger.QueryError as exc:  # the image could not be started at all
        detail = f"could not run: {_reason(exc)}"
        return PlatformSmoke(str(platform), plan.check.describe(), "error", time.monotonic() - started, detail=detail)
    finally:
        for service in started_services:
            with contextlib.suppress(dagger.QueryError):
                await service.stop()
    return platform_result(str(platform), plan.check, output, time.monotonic() - started)


def _reason(exc: dagger.QueryError) -> str:
    return " ".join(engine_reason(exc).split())[:600]


async def smoke_test(plan: SmokePlan, containers: Mapping[Platform, dagger.Container], golang_image: str) -> SmokeReport:
    """Every platform the plan names, at once; the report holds each one's verdict and time."""
    engine = parse_platforms([str(await dag.default_platform())])[0]
    platforms = plan.platforms if plan.platforms is not None else (await native_platform(containers),)
    results: dict[Platform, PlatformSmoke] = {}

    async def one(platform: Platform) -> None:
        results[platform] = await _run_platform(plan, platform, containers[platform], golang_image, engine)

    async with anyio.create_task_group() as group:
        for platform in platforms:
            group.start_soon(one, platform)
    return SmokeReport(plan.source, tuple(results[p] for p in platforms))
