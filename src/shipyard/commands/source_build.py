"""What a build reads from the source before the engine builds anything: shared by publish, build and rebuild-check."""

from __future__ import annotations

from dataclasses import dataclass

import dagger

from shipyard.commands.door import (
    Door,
    SecretInput,
    _epoch,
    engine_secret,
    parse_build_args,
)
from shipyard.commands.options import BuildOptions
from shipyard.errors import InvalidInput
from shipyard.source import SourceTree
from shipyard.steps.build import BuildSpec


@dataclass(frozen=True)
class SourceBuild:
    """What to build and how to stamp it: the same for a release and for its rebuild check."""

    source: dagger.Directory
    dockerfile: str
    dockerfile_text: str
    target: str
    build_args: dict[str, str]
    secrets: tuple[tuple[str, SecretInput], ...]
    sha: str
    source_date_epoch: int | None
    commit_epoch: int | None
    source_url: str

    def spec(self) -> BuildSpec:
        """The build as the engine runs it: each secret becomes a ``dagger.Secret`` named by its id."""
        secrets = [engine_secret(name, value) for name, value in self.secrets]
        return BuildSpec(
            dockerfile=self.dockerfile,
            target=self.target,
            build_args=self.build_args,
            secrets=secrets,
            dockerfile_text=self.dockerfile_text,
        )


async def _source_build(source: SourceTree, options: BuildOptions, door: Door) -> SourceBuild:
    """Read and check everything a build needs before the engine builds anything."""
    dockerfile = options.dockerfile
    build_args = parse_build_args(options.build_args)
    text = await source.read_text(dockerfile, what="--dockerfile")
    if text is None:
        raise InvalidInput("--dockerfile", dockerfile, "is not in the source directory", "Pass --dockerfile relative to --source.")
    info = await source.info()
    return SourceBuild(
        source=source.directory(),
        dockerfile=dockerfile,
        dockerfile_text=text,
        target=options.target,
        build_args=build_args,
        secrets=options.secrets,
        sha=options.sha or info.sha,
        source_date_epoch=_epoch(options.source_date_epoch, door),
        commit_epoch=info.commit_epoch,
        source_url=info.url,
    )
