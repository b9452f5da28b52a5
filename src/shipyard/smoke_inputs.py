"""The smoke test's inputs from the source: the compose file (``--smoke-compose``, else the first of
compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml whose service builds this image)
and the env files its services name. Read before any build, so a bad file exits 2 at once."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.errors import InvalidInput
from shipyard.gates.compose import COMPOSE_FILE_NAMES, FLAG, compose_runs, find_service, load_compose
from shipyard.gates.smoke import ServiceRun, SmokePlan, parse_env_file, smoke_plan, smoke_platforms
from shipyard.release.config import SmokeTest
from shipyard.source import SourceTree
from shipyard.values.platforms import DEFAULT_PLATFORMS, parse_platforms


async def read_smoke_plan(source: SourceTree, test: SmokeTest, *, dockerfile: str, platform: Sequence[str]) -> SmokePlan | None:
    """The release's smoke test (None: none asked for and no compose service builds this image)."""
    release = parse_platforms(list(platform) or list(DEFAULT_PLATFORMS))
    platforms = smoke_platforms(test.platforms, release)
    if platforms == ():
        return None
    app: ServiceRun | None = None
    dependencies: tuple[ServiceRun, ...] = ()
    described = ""
    for path in [test.compose] if test.compose else COMPOSE_FILE_NAMES:
        text = await source.read_text(path, what=f"{FLAG} {path}")
        if text is None:
            if test.compose:
                raise InvalidInput(FLAG, path, "is not a file in the source", "Give the compose file's path relative to --source.")
            continue
        compose = load_compose(text, path)
        name = find_service(compose, service=test.service, dockerfile=dockerfile, explicit=bool(test.compose or test.service))
        if name is not None:
            app, dependencies = compose_runs(compose, name)
            app, dependencies = await _with_env_files(source, app), tuple([await _with_env_files(source, d) for d in dependencies])
            described = f"{path} service {name}"
        break
    else:
        if test.service:
            raise InvalidInput(
                "--smoke-service", test.service, "needs a compose file, and the source has none", "Add --smoke-compose FILE."
            )
    return smoke_plan(
        platforms=platforms,
        app=app,
        dependencies=dependencies,
        compose_source=described,
        port=test.port,
        path=test.path,
        cmd=test.cmd,
        timeout=test.timeout,
    )


async def _with_env_files(source: SourceTree, run: ServiceRun) -> ServiceRun:
    values: list[tuple[str, str]] = []
    for path, required in run.env_files:
        text = await source.read_text(path, what=f"env_file {path}")
        if text is None:
            if required:
                raise InvalidInput(FLAG, path, f"services.{run.name}.env_file: the file is missing", "Add it to the source.")
            continue
        values += parse_env_file(text, what=f"env_file {path}")
    return run.with_env(values)
