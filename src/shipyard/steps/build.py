"""Build every platform of the plan from the source's Dockerfile, concurrently, in the engine.

``RUN`` steps of a foreign platform run under QEMU; stages written ``FROM --platform=$BUILDPLATFORM``
run natively and cross-compile (the engine sets ``TARGETOS``/``TARGETARCH``/``TARGETVARIANT``).
A failing build names the platform and the failing step with its output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import dagger

from shipyard.errors import ShipyardError
from shipyard.values.platforms import Platform


class BuildFailed(ShipyardError):
    """A platform's build failed; nothing was pushed."""

    def __init__(self, platform: Platform, detail: str, where: str = "") -> None:
        self.platform = platform
        super().__init__(f"build for {platform}{f' on {where}' if where else ''} failed: {detail}")


@dataclass(frozen=True)
class BuildSpec:
    """How to build: the Dockerfile (relative to the source), stage, arguments and secrets."""

    dockerfile: str = "Dockerfile"
    target: str = ""
    build_args: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[dagger.Secret] = ()
    dockerfile_text: str = ""  # what the Dockerfile says (steps/base.py builds its base image alone)


async def build_platforms(
    source: dagger.Directory, spec: BuildSpec, platforms: Sequence[Platform], progress_log: Path | None = None, where: str = ""
) -> dict[Platform, dagger.Container]:
    """Build each platform and wait for all; the first failure is raised, naming its platform
    (and ``where``: the builder engine, when it is not the default one).

    The engine reports a failed Dockerfile step without its output; the output is in the
    session's progress log (``progress_log``, the CLI's ``engine.log``), so it is read from there.
    """
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
            failures.append(BuildFailed(platform, f"`{' '.join(exc.command)}` exited with {exc.exit_code}:\n{output}", where))
        except dagger.QueryError as exc:
            message = str(exc).strip()
            output = await _step_output(progress_log, message)
            failures.append(BuildFailed(platform, f"{message}\n{output}" if output else message, where))

    async with anyio.create_task_group() as group:
        for platform in platforms:
            group.start_soon(one, platform)
    if failures:
        failures.sort(key=lambda f: str(f.platform))
        raise failures[0]
    return {p: built[p] for p in platforms}


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain_lines(progress: str) -> list[str]:
    """The lines of a Dagger progress log without its colour codes."""
    return [_ANSI.sub("", line) for line in progress.splitlines()]


_SPAN = re.compile(r"^(\d+)\s+:")


async def _step_output(progress_log: Path | None, message: str) -> str:
    if progress_log is None:
        return ""
    for _ in range(10):  # the CLI writes the failed step's lines a moment after the error returns
        text = progress_log.read_text(errors="replace") if progress_log.exists() else ""
        output = failed_step_output(text, message)
        if output:
            return output
        await anyio.sleep(0.2)
    return f"(its output is in {progress_log})"


def failed_step_output(progress: str, message: str, limit: int = 40) -> str:
    """The output lines of the step whose error is ``message``, from Dagger's plain progress log:
    the span that printed ``! <message>`` and its ``| output`` lines (the last ``limit``)."""
    lines = plain_lines(progress)
    span = None
    for line in lines:
        match = _SPAN.match(line)
        if match and "! " in line and message.splitlines()[0] in line:
            span = match.group(1)
    if span is None:
        return ""
    output = []
    for line in lines:
        match = _SPAN.match(line)
        if match and match.group(1) == span and "| " in line:
            output.append(line.split("| ", 1)[1])
    return "\n".join(output[-limit:])
