"""What the release's steps share: the job (inputs, frozen) and what the steps made (artifacts).

A step reads ``ctx.job`` (the plan and everything given to carry it out) and records what it
made in ``ctx.artifacts`` (digests, results, documents) and, for files, through ``ctx.output``
(the one writer of the output directory). GoReleaser's context with its artifact list is the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagger
from dagger import dag

from shipyard.gates.scan import GateResult
from shipyard.gates.smoke import SmokeReport
from shipyard.output_dir import OutputDir
from shipyard.registries.http import DEFAULT_TIMEOUT
from shipyard.registries.oci import OciRegistry
from shipyard.release.builders import Builder
from shipyard.release.config import SbomFormat
from shipyard.release.image import AssembledRelease
from shipyard.release.plan import ReleasePlan
from shipyard.reports.events import SILENT, Progress
from shipyard.steps.build import BuildSpec
from shipyard.steps.layouts import LoadedLayout, platform_layouts
from shipyard.steps.tools import RegistryAccess, Signer
from shipyard.values.platforms import Platform

if TYPE_CHECKING:  # the steps' own result types (those modules import this one)
    from shipyard.steps.promote import TargetTags
    from shipyard.steps.push import PushResult


@dataclass(frozen=True)
class SplitBuild:
    """The builder engines of a release (``--builder``) and how each gets its inputs: ``inputs``
    gives the source and the build spec as objects of that engine's session (the build secrets
    set there; no registry credential or signing key ever goes to a builder)."""

    builders: tuple[Builder, ...]
    inputs: Callable[[dagger.Client], tuple[dagger.Directory, BuildSpec]]
    log_dir: Path  # each builder session's progress: builder-<platforms>.log
    environment: Callable[[Builder], Mapping[str, str]] = lambda builder: {}  # its session's cache (build_cache.py)


@dataclass(frozen=True)
class ReleaseJob:
    """A release's inputs: the plan, where the source and the registries are, where things go."""

    plan: ReleasePlan
    source: dagger.Directory
    build: BuildSpec
    access: RegistryAccess
    workdir: Path  # local scratch space (the host in client mode, the module's container in module mode)
    registry_timeout: float = DEFAULT_TIMEOUT
    out: Path | None = None
    progress_log: Path | None = None  # the engine session's progress (failed build steps' output)
    signer: Signer | None = None  # cosign: sign and attest in every target before tags move
    source_url: str = ""
    split: SplitBuild | None = None  # --builder: platforms built on other engines
    layouts: tuple[LoadedLayout, ...] = ()  # publish --from: the platform images, built and checked already
    local_file: Callable[[Path], dagger.File] | None = None  # a file of the workdir as the engine takes it
    local_directory: Callable[[Path], dagger.Directory] | None = None  # a directory of the workdir, likewise
    progress: Progress = SILENT  # live events: steps started/finished, push progress, tags moved


@dataclass
class ReleaseArtifacts:
    """What the steps made, each field written by one step (named in its comment)."""

    started: str = ""  # the pipeline: when the release started
    containers: dict[Platform, dagger.Container] = field(default_factory=dict)  # build+assemble: as built, per platform
    builder_versions: dict[str, str] = field(default_factory=dict)  # build+assemble: builder address -> its engine version
    release: AssembledRelease | None = None  # build+assemble: the layout, its index and platform manifests
    notices: list[str] = field(default_factory=list)  # check-release-tags, promote: what was overwritten (--allow-overwrite)
    pushes: list[PushResult] = field(default_factory=list)  # push: a PushResult per target
    sboms: dict[tuple[Platform, SbomFormat], dagger.File] = field(default_factory=dict)  # sbom: the documents, in the engine
    sbom_files: list[str] = field(default_factory=list)  # sbom: the files written
    provenance: dict[str, Any] | None = None  # provenance: the SLSA predicate, for its attestation
    scan: GateResult | None = None  # scan: the gate's result
    sarif: str = ""  # scan: the merged SARIF log (code scanning), when written
    smoke: SmokeReport | None = None  # smoke: the verdict per platform
    signatures: dict[str, str] = field(default_factory=dict)  # sign: repository -> signed reference
    signed_by: tuple[str, str] | None = None  # sign, keyless: the certificate's identity and issuer
    attestations: list[dict[str, str]] = field(default_factory=list)  # sign: what was attested where
    tags: list[TargetTags] = field(default_factory=list)  # promote: a TargetTags per target (written, read back)
    interrupted: int | None = None  # the pipeline: the exit code of a signal during the promotion (130, 143)
    timings: dict[str, float] = field(default_factory=dict)  # the pipeline: seconds per step
    ran: list[str] = field(default_factory=list)  # the pipeline: the steps started


@dataclass
class ReleaseContext:
    """What a step's ``run`` gets: the job, the artifacts so far, the registry clients, the output writer."""

    job: ReleaseJob
    artifacts: ReleaseArtifacts = field(default_factory=ReleaseArtifacts)
    clients: dict[str, OciRegistry] = field(default_factory=dict)  # registry -> its client, open for the release
    output: OutputDir = field(default_factory=lambda: OutputDir(None))

    def platform_layouts(self) -> dict[Platform, dagger.Directory]:
        """Each platform of the assembled release as a one-image OCI layout in the engine."""
        release = self.artifacts.release
        assert release is not None
        path = Path(release.layout)
        root = self.job.local_directory(path) if self.job.local_directory is not None else dag.host().directory(str(path))
        return platform_layouts(root, release.manifests)

    @classmethod
    def for_job(cls, job: ReleaseJob) -> ReleaseContext:
        return cls(job, output=OutputDir(job.out))
