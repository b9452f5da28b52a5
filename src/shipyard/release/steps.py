"""The release's steps: their names, their order, which run at once, and which a plan enables.

One list, read by both sides: ``shipyard plan`` lists the steps it enables (``ReleasePlan.steps``)
and the pipeline runs exactly them (``pipeline.py`` binds each name to its runner, whose code is
``steps/<module>.py``). GoReleaser's ``internal/pipeline/pipeline.go`` is the model: one ordered
list of pipes, each with a name and ``Run(ctx)``; here the list also says what runs concurrently.

After the build everything works on the assembled layout or on digests, so it runs at once: the
scan and the smoke test beside the push, the SBOMs and the provenance; cosign signs and attests
once those exist, in one container (its commands run at once there, cosign's key decrypted once
per command, not once per registry: it writes in one target, the others get copies); the first
failure cancels the rest, and the tags move only at the end. On 2 cores the tools are CPU-bound,
so what runs beside what was chosen by measurement (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shipyard.release.config import SbomFormat, ScanPolicy, SigningMode

if TYPE_CHECKING:
    from shipyard.gates.smoke import SmokePlan


class PlanDecisions(Protocol):
    """What the steps' predicates and descriptions read from a plan (``ReleasePlan`` has it all)."""

    @property
    def platforms(self) -> tuple[str, ...]: ...
    @property
    def signing(self) -> SigningMode: ...
    @property
    def sbom_formats(self) -> tuple[SbomFormat, ...]: ...
    @property
    def provenance(self) -> bool: ...
    @property
    def scan(self) -> ScanPolicy | None: ...
    @property
    def smoke(self) -> SmokePlan | None: ...
    @property
    def builders(self) -> Mapping[str, str]: ...
    @property
    def active_targets(self) -> Sequence[object]: ...


@dataclass(frozen=True)
class Step:
    """One step: its name (in the plan, the progress lines, the report's timings and steps), whether
    a plan enables it, and what it does for that plan (the plan's text)."""

    name: str
    enabled: Callable[[PlanDecisions], bool]
    describe: Callable[[PlanDecisions], str]


@dataclass(frozen=True)
class InOrder:
    """Parts run one after the other."""

    parts: tuple[Stage, ...]


@dataclass(frozen=True)
class AtOnce:
    """Parts run concurrently; the first failure cancels the others."""

    parts: tuple[Stage, ...]


Stage = Step | InOrder | AtOnce


def _always(plan: PlanDecisions) -> bool:
    return True


def _built_where(plan: PlanDecisions) -> str:
    where = f" ({', '.join(f'{p} on {a}' for p, a in plan.builders.items())}; the rest on the default engine)" if plan.builders else ""
    return f"build {len(plan.platforms)} platform image(s) concurrently{where}; assemble the release (one OCI layout)"


def _scan_text(plan: PlanDecisions) -> str:
    severities = ",".join(s.value for s in plan.scan.fail_on) if plan.scan is not None else ""
    return f"trivy per platform; fail on {severities or 'nothing'}"


BUILD = Step("build+assemble", _always, _built_where)
CHECK_RELEASE_TAGS = Step(
    "check-release-tags",
    _always,
    lambda plan: "read the release tags in every target: one naming other content stops the release (unless --allow-overwrite)",
)
SCAN = Step("scan", lambda plan: plan.scan is not None, _scan_text)
SMOKE = Step("smoke", lambda plan: plan.smoke is not None, lambda plan: plan.smoke.describe() if plan.smoke is not None else "")
PUSH = Step("push", _always, lambda plan: f"push the index by digest to {len(plan.active_targets)} target(s); no tag moves")


def _kept(plan: PlanDecisions) -> str:
    return "written to the output directory" + (
        "; attested by the sign step" if plan.signing is not SigningMode.NONE else " (not signed: no attestation)"
    )


SBOM = Step(
    "sbom",
    lambda plan: bool(plan.sbom_formats),
    lambda plan: "syft SBOM per platform (" + ", ".join(f.value for f in plan.sbom_formats) + "), " + _kept(plan),
)
PROVENANCE = Step("provenance", lambda plan: plan.provenance, lambda plan: "SLSA v1 provenance, " + _kept(plan))
SIGN = Step(
    "sign",
    lambda plan: plan.signing is not SigningMode.NONE,
    lambda plan: (
        f"cosign ({plan.signing.value}) the index and each platform manifest"
        + ("; attest each platform's SBOMs (to it and to the index)" if plan.sbom_formats else "")
        + ("; attest the provenance (to the index)" if plan.provenance else "")
        + "; in one target, copied to every other"
    ),
)
PROMOTE = Step(
    "promote",
    _always,
    lambda plan: "write the tags on every target, only after everything above succeeded; read them back (all or nothing)",
)

RELEASE: Stage = InOrder(
    (
        BUILD,
        CHECK_RELEASE_TAGS,
        AtOnce((SCAN, SMOKE, InOrder((AtOnce((PUSH, SBOM, PROVENANCE)), SIGN)))),
        PROMOTE,
    )
)


def all_steps(stage: Stage = RELEASE) -> tuple[Step, ...]:
    """Every step of ``stage``, in the list's order (concurrent ones as listed)."""
    if isinstance(stage, Step):
        return (stage,)
    return tuple(step for part in stage.parts for step in all_steps(part))


def enabled_steps(plan: PlanDecisions, stage: Stage = RELEASE) -> tuple[Step, ...]:
    """The steps ``plan`` runs, in the list's order: what ``shipyard plan`` lists."""
    return tuple(step for step in all_steps(stage) if step.enabled(plan))
