"""Sign and attest the release with cosign in every target registry, before any tag moves: all
of it in one cosign container.

Signatures live per repository, so each target gets its own, by digest: ``--recursive`` signs
the index and every platform manifest. Each attestation (a platform's SBOM, to that platform's
manifest and to the index; the provenance, to the index) is one ``cosign attest`` naming all
its subjects in every repository, so its predicate is read and the key unlocked once however
many registries there are. The signatures and the attestations are two chains that run at once
(``steps/tools.py``'s ``toolrun``); the attestations take turns, because those to one subject
append to one tag. With Sigstore bundles, whose referrers fallback tag every bundle to a
subject rewrites, everything takes turns in one chain.

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
    """The ``sign`` step: signatures (recursive), each platform's SBOMs (to its manifest and the
    index) and the provenance (to the index), in every target that holds the release: one cosign container."""
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
    signed = await sign_and_attest(tools.cosign, tools.golang, job.access, repositories, release.index.digest, job.signer, attestations)
    made.signatures = signed.signatures
    made.attestations = signed.attestations
    if job.signer.identity.mode is SigningMode.KEYLESS and repositories:
        made.signed_by = await _keyless_signer(ctx, repositories[0], release.index.digest)


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
    """``sign``: sign ``repository@digest`` recursively; then each attestation, in each repository."""
    container = cosign_container(image, access, signer)
    for n, attestation in enumerate(attestations):
        container = container.with_new_file(f"{PREDICATES}/{n}.json", json.dumps(attestation.predicate))
    # Registries over plain HTTP get cosign's insecure flags; the others' commands are their own,
    # so a TLS registry is never reached with its certificate checks relaxed.
    groups: dict[bool, list[str]] = {}
    for repository in repositories:
        groups.setdefault(access.insecure([repository]), []).append(repository)
    passes = (False, True) if signer.identity.bundles else (False,)  # True: again, as Sigstore bundles (OCI referrers)
    signing: list[ToolCommand] = []
    attesting: list[ToolCommand] = []
    made: dict[str, tuple[list[str], Attestation | None]] = {}  # command -> its repositories, what it makes (None: signatures)
    for insecure, group in sorted(groups.items()):
        tail = "-http" if insecure else ""
        for bundle in passes if sign else ():
            refs = [access.inside(f"{r}@{digest}", http_name=bundle) for r in group]
            name = "sign" + tail + ("-bundle" if bundle else "")
            signing.append(ToolCommand(name, tuple(signer.identity.sign_args(refs, insecure=insecure, bundle=bundle))))
            made[name] = (group, None)
        for n, attestation in enumerate(attestations):
            for bundle in passes:
                refs = [access.inside(f"{r}@{s}", http_name=bundle) for r in group for s in attestation.subjects]
                predicate = f"{PREDICATES}/{n}.json"
                name = f"attest-{n}" + tail + ("-bundle" if bundle else "")
                args = signer.identity.attest_args(refs, attestation.kind, insecure=insecure, bundle=bundle, predicate=predicate)
                attesting.append(ToolCommand(name, tuple(args)))
                made[name] = (group, attestation)
    chains = [signing + attesting] if signer.identity.bundles else [c for c in (signing, attesting) if c]
    _, results = await run_tool_plan(container, "cosign", chains, golang_image, image=image)
    done = Signed()
    failures: dict[str, list[str]] = {}
    for command in [c for chain in chains for c in chain]:
        result, (group, what) = results[command.name], made[command.name]
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
            done.attestations += [
                {"repository": r, "subject": s, "platform": what.platform, "type": what.kind} for r in group for s in what.subjects
            ]
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
