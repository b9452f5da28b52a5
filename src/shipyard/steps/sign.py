"""Sign and attest the release with cosign in every target registry, before any tag moves.

Signatures live per repository, so each target gets its own, by digest: ``--recursive`` signs
the index and every platform manifest. They need nothing but the pushed release, so
the ``sign`` step runs right after the push, while syft still writes the SBOMs; the attestations
follow in a second cosign container once the SBOMs and the provenance exist (two containers,
one for each: ``sign_and_attest`` does either or both).

Each attestation (a platform's SBOM, to that platform's manifest and to the index; the
provenance, to the index) is one ``cosign attest`` per subject naming that subject in every
repository, so one more registry adds references, not commands. Attestations to one subject take turns (they append to one tag: a chain of
``steps/tools.py``'s ``toolrun``); those to different subjects, and the signatures, run at once.
With Sigstore bundles, whose referrers fallback tag every bundle to a subject rewrites,
everything takes turns in one chain (and the ``attest`` step runs after the signing is done: release/steps.py).

Key mode is offline by default (no transparency-log upload); keyless mode gets a Fulcio
certificate for an OIDC identity. The command lines are ``supply_chain/cosign.py``'s; the key, its
password and tokens reach cosign only as Secrets (mounted files and secret variables,
``steps/tools.py``), never as arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import GateFailed
from shipyard.release.config import SigningMode
from shipyard.steps.context import ReleaseContext
from shipyard.steps.tools import RegistryAccess, Signer, cosign_container, run_tool_plan
from shipyard.supply_chain.cosign import CERTIFICATE_ANNOTATION, certificate_identity
from shipyard.supply_chain.toolrun import ToolCommand
from shipyard.values.refs import parse_repository

PREDICATES = "/run/shipyard/predicates"


class SigningFailed(GateFailed):
    """cosign could not sign or attest in a target."""


async def run(ctx: ReleaseContext) -> None:
    """The ``sign`` step: recursive signatures in every target that holds the release (one cosign
    container). They need only the pushed digests, so they are written while syft still works."""
    job, made = ctx.job, ctx.artifacts
    assert made.release is not None and job.signer is not None
    repositories = [p.repository for p in made.pushes if p.ok]
    tools = job.plan.tools
    digest = made.release.index.digest
    signed = await sign_and_attest(tools.cosign, tools.golang, job.access, repositories, digest, job.signer, [])
    made.signatures = signed.signatures
    if job.signer.identity.mode is SigningMode.KEYLESS and repositories:
        made.signed_by = await _keyless_signer(ctx, repositories[0], digest)


async def run_attest(ctx: ReleaseContext) -> None:
    """The ``attest`` step: each platform's SBOMs (to its manifest and the index) and the
    provenance (to the index), in every target that holds the release: a second cosign container."""
    job, made = ctx.job, ctx.artifacts
    assert made.release is not None and job.signer is not None
    release = made.release
    repositories = [p.repository for p in made.pushes if p.ok]
    attestations = [
        Attestation(
            fmt.attestation_type, json.loads(document), (release.manifests[platform].digest, release.index.digest), str(platform), "SBOMs"
        )
        for (platform, fmt), document in sorted(made.sboms.items(), key=lambda item: (str(item[0][0]), item[0][1].value))
    ]
    if made.provenance is not None:
        attestations.append(Attestation("slsaprovenance1", made.provenance, (release.index.digest,), "all", "provenance"))
    tools = job.plan.tools
    signed = await sign_and_attest(
        tools.cosign, tools.golang, job.access, repositories, release.index.digest, job.signer, attestations, sign=False
    )
    made.attestations = signed.attestations


async def _keyless_signer(ctx: ReleaseContext, repository: str, digest: str) -> tuple[str, str] | None:
    """Who signed keyless, as Fulcio's certificate on the index's signature says (identity, issuer)."""
    ref = parse_repository(repository, what="target")
    fetched = await ctx.clients[ref.registry].manifest(ref.repository, f"{digest.replace(':', '-')}.sig")
    for layer in reversed(fetched.body.get("layers", []) if fetched else []):
        pem = layer.get("annotations", {}).get(CERTIFICATE_ANNOTATION)
        if pem:
            return certificate_identity(pem)
    return None


@dataclass(frozen=True)
class Attestation:
    """A predicate to attest to ``subjects`` (digests) in every repository."""

    kind: str  # cosign's --type: spdxjson, cyclonedx, slsaprovenance1
    predicate: Mapping[str, Any]
    subjects: tuple[str, ...]
    platform: str  # the platform it describes, or "all" (provenance)
    what: str  # how failures name it: "SBOMs", "provenance"


@dataclass
class Signed:
    """What cosign wrote: repository -> signed reference, and each attestation made."""

    signatures: dict[str, str] = field(default_factory=dict)
    attestations: list[dict[str, str]] = field(default_factory=list)


async def sign_and_attest(
    image: str,
    golang_image: str,
    access: RegistryAccess,
    repositories: Sequence[str],
    digest: str,
    signer: Signer,
    attestations: Sequence[Attestation],
    *,
    sign: bool = True,
) -> Signed:
    """``sign``: sign ``repository@digest`` (the index) recursively; and each attestation, in each
    repository (``digest`` names the index among their subjects)."""
    container = cosign_container(image, access, signer)
    for n, attestation in enumerate(attestations):
        container = container.with_new_file(f"{PREDICATES}/{n}.json", json.dumps(attestation.predicate))
    # Registries over plain HTTP get cosign's insecure flags; the others' commands are their own,
    # so a TLS registry is never reached with its certificate checks relaxed.
    groups: dict[bool, list[str]] = {}
    for repository in repositories:
        groups.setdefault(access.insecure([repository]), []).append(repository)
    passes = (False, True) if signer.identity.bundles else (False,)  # True: again, as Sigstore bundles (OCI referrers)
    chains: dict[tuple[bool, str], list[ToolCommand]] = {}  # (insecure, subject) -> what writes to it, in turn
    made: dict[str, tuple[list[str], Attestation | None, str]] = {}  # command -> repositories, what it makes (None: signatures), subject
    for insecure, group in sorted(groups.items()):
        tail = "-http" if insecure else ""
        for bundle in passes if sign else ():
            refs = [access.inside(f"{r}@{digest}", http_name=bundle) for r in group]
            name = "sign" + tail + ("-bundle" if bundle else "")
            chains.setdefault((insecure, "sign"), []).append(
                ToolCommand(name, tuple(signer.identity.sign_args(refs, insecure=insecure, bundle=bundle)))
            )
            made[name] = (group, None, digest)
        for n, attestation in enumerate(attestations):
            for subject in attestation.subjects:
                for bundle in passes:
                    refs = [access.inside(f"{r}@{subject}", http_name=bundle) for r in group]
                    predicate = f"{PREDICATES}/{n}.json"
                    which = "index" if subject == digest else attestation.platform
                    name = f"attest-{n}-{which}" + tail + ("-bundle" if bundle else "")
                    args = signer.identity.attest_args(refs, attestation.kind, insecure=insecure, bundle=bundle, predicate=predicate)
                    chains.setdefault((insecure, subject), []).append(ToolCommand(name, tuple(args)))
                    made[name] = (group, attestation, subject)
    # The longest chains (each registry group's index attestations) first, each keeping a slot
    # of its own; the other subjects take turns in one more: on 2 busy cores this ends the
    # index's chain sooner than all at once (measured: docs/benchmarks.md).
    if signer.identity.bundles:
        planned = [[c for chain in chains.values() for c in chain]]
    else:
        planned = sorted(chains.values(), key=len, reverse=True)
    parallel = len(groups) + 1
    _, results = await run_tool_plan(container, "cosign", planned, golang_image, image=image, parallel=parallel)
    done = Signed()
    failures: dict[str, list[str]] = {}
    for command in [c for chain in planned for c in chain]:
        result, (group, what, subject) = results[command.name], made[command.name]
        if not result.ok:
            if result.exit >= 0:  # the command that failed; those it skipped say nothing more
                reason = result.reason("cosign")
                action = "signing" if what is None else f"attesting {what.what}"
                failures.setdefault(action, []).append(f"{_blamed(reason, group, access)}: {signer.explain(reason)}")
        elif command.name.endswith("-bundle"):
            continue
        elif what is None:
            done.signatures |= {r: f"{r}@{digest}" for r in group}
        else:
            done.attestations += [{"repository": r, "subject": subject, "platform": what.platform, "type": what.kind} for r in group]
    if failures:
        detail = "; ".join(f"{what} failed ({'; '.join(sorted(lines))})" for what, lines in failures.items())
        raise SigningFailed(detail)
    done.signatures = {r: done.signatures[r] for r in repositories if r in done.signatures}
    done.attestations.sort(key=lambda d: (d["repository"], d["subject"], d["platform"], d["type"]))
    return done


def _blamed(reason: str, repositories: Sequence[str], access: RegistryAccess) -> str:
    """The repositories a failed cosign command names in its reason (cosign stops at the first
    reference that fails), or all it was given."""
    named = [r for r in repositories if access.inside_name(r) in reason or r in reason]
    return ", ".join(named or repositories)
