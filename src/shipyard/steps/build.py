"""Build every platform of the plan from the source's Dockerfile, concurrently, in the engine.

``RUN`` steps of a foreign platform run under QEMU; stages written ``FROM --platform=$BUILDPLATFORM``
run natively and cross-compile (the engine sets ``TARGETOS``/``TARGETARCH``/``TARGETVARIANT``).
A failing build names the platform and the failing step with its output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import dagger

from shipyard.plan.errors import ShipyardError
from shipyard.plan.platforms import Platform


class BuildFailed(ShipyardError):
    """A platform's build failed; nothing was pushed."""

    def __init__(self, platform: Platform, detail: str) -> None:
        self.platform = platform
        super().__init__(f"build for {platform} failed: {detail}")


@dataclass(frozen=True)
class BuildSpec:
    """How to build: the Dockerfile (relative to the source), stage, arguments and secrets."""

    dockerfile: str = "Dockerfile"
    target: str = ""
    build_args: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[dagger.Secret] = ()


async def build_platforms(source: dagger.Directory, spec: BuildSpec, platforms: Sequence[Platform]) -> dict[Platform, dagger.Container]:
    """Build each platform and wait for all; the first failure is raised, naming its platform."""
    built: dict[Platform, dagger.Container] = {}
    failures: list[BuildFailed] = []

    async def one(platform: Platform) -> None:
        container = source.docker_build(
            dockerfile=spec.dockerfile,
            platform=dagger.Platform(str(platform)),
            target=spec.target,
            build_args=[dagger.BuildArg(name=k, value=v) for k, v in sorted(spec.build_args.items())],
            secrets=list(spec.secrets),
        )
        try:
            built[platform] = await container.sync()
        except dagger.ExecError as exc:
            output = (exc.stderr or exc.stdout).strip()[-4000:]
            failures.append(BuildFailed(platform, f"`{' '.join(exc.command)}` exited with {exc.exit_code}:\n{output}"))
        except dagger.QueryError as exc:
            failures.append(BuildFailed(platform, str(exc).strip()))

    async with anyio.create_task_group() as group:
        for platform in platforms:
            group.start_soon(one, platform)
    if failures:
        failures.sort(key=lambda f: str(f.platform))
        raise failures[0]
    return {p: built[p] for p in platforms}
