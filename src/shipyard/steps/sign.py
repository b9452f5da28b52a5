"""Sign and attest the release with cosign in every target registry, before any tag moves: all
of it in one cosign container.

Signatures live per repository, so each target gets its own, by digest: ``--recursive`` signs
the index and every platform manifest. Each attestation (a platform's SBOM, to that platform's
manifest and to the index; the provenance, to the index) is one ``cosign attest`` naming all
its subjects in that repository. Each repository's commands are one chain (attestations to one
subject append to one tag, so they take turns); the chains of different repositories run at
once, so one registry's work never waits for another's (``steps/tools.py``'s ``toolrun``).

Key mode is offline by default (no transparency-log upload); keyless mode gets a Fulcio
certificate for an OIDC identity. The command lines are ``plan/cosign.py``'s; the key, its
password and tokens reach cosign only as Secrets (mounted files and secret variables,
``steps/tools.py``), never as arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.plan.errors import GateFailed
from shipyard.plan.toolrun import ToolCommand
from shipyard.steps.tools import RegistryAccess, Signer, cosign_container, run_tool_plan

PREDICATES = "/run/shipyard/predicates"


class SigningFailed(GateFailed):
    """cosign could not sign or attest in a target; no tag was moved."""


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
    chains: list[list[ToolCommand]] = []
    meaning: dict[str, tuple[str, Sequence[str], Attestation | None]] = {}  # command -> (repository, subjects, attestation)
    bundles = signer.identity.bundles  # each command again, writing a Sigstore bundle as an OCI referrer
    for r, repository in enumerate(repositories):
        insecure = access.insecure([repository.split("/", 1)[0]])
        chain: list[ToolCommand] = []
        if sign:
            reference = f"{repository}@{digest}"
            for bundle in (False, True) if bundles else (False,):
                name = f"{r}-sign" + ("-bundle" if bundle else "")
                ref = access.inside(reference, http_name=bundle)
                chain.append(ToolCommand(name, tuple(signer.identity.sign_args(ref, insecure=insecure, bundle=bundle))))
                meaning[name] = (repository, (digest,), None)
        for n, attestation in enumerate(attestations):
            for bundle in (False, True) if bundles else (False,):
                name = f"{r}-attest-{n}" + ("-bundle" if bundle else "")
                refs = [access.inside(f"{repository}@{s}", http_name=bundle) for s in attestation.subjects]
                args = signer.identity.attest_args(
                    refs, attestation.kind, insecure=insecure, bundle=bundle, predicate=f"{PREDICATES}/{n}.json"
                )
                chain.append(ToolCommand(name, tuple(args)))
                meaning[name] = (repository, attestation.subjects, attestation)
        chains.append(chain)
    _, results = await run_tool_plan(container, "cosign", chains, golang_image, image=image)
    done = Signed()
    failures: dict[str, list[str]] = {}
    for chain in chains:
        for command in chain:
            repository, subjects, made = meaning[command.name]
            result = results[command.name]
            if not result.ok:
                if result.exit >= 0:  # the command that failed; those it skipped say nothing more
                    what = "signing" if made is None else f"attesting {made.what}"
                    failures.setdefault(what, []).append(f"{repository}: {signer.explain(result.reason('cosign'))}")
            elif command.name.endswith("-bundle"):
                continue
            elif made is None:
                done.signatures[repository] = f"{repository}@{digest}"
            else:
                done.attestations += [
                    {"repository": repository, "subject": s, "platform": made.platform, "type": made.kind} for s in subjects
                ]
    if failures:
        detail = "; ".join(f"{what} failed ({'; '.join(sorted(lines))})" for what, lines in failures.items())
        raise SigningFailed(f"{detail}; no tag was moved on any registry")
    done.signatures = {r: done.signatures[r] for r in repositories if r in done.signatures}
    done.attestations.sort(key=lambda d: (d["repository"], d["subject"], d["platform"], d["type"]))
    return done
