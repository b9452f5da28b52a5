"""Sign and attest the release with cosign, in every target registry, before any tag moves.

One cosign container (the ``sign`` step, once the pushes, the SBOMs and the provenance exist):
``--recursive`` signs the index and every platform manifest; each attestation (a platform's SBOM,
to that platform's manifest and to the index; the provenance, to the index) is one ``cosign
attest`` per subject. Attestations to one subject take turns (they append to one tag: a chain of
``steps/tools.py``'s ``toolrun``); those to different subjects, and the signatures, run at once.

cosign writes in the first target only; the others get copies of its tags
(``supply_chain/replicas.py``: a signature binds the digest, which is the same in every target).
cosign decrypts the key (scrypt) or asks Fulcio for a certificate once per reference it is given,
so one more registry would cost every command again; a copy costs a few requests. With Sigstore
bundles (OCI referrers, listed per registry) cosign writes in every target instead, and
everything takes turns in one chain, since the referrers fallback tag is rewritten by every bundle.

Key mode is offline by default (no transparency-log upload); keyless mode gets a Fulcio
certificate for an OIDC identity. The command lines are ``supply_chain/cosign.py``'s; the key, its
password and tokens reach cosign only as Secrets (mounted files and secret variables,
``steps/tools.py``), never as arguments.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import dagger

from shipyard.errors import GateFailed, shipyard_error_in
from shipyard.registries.oci import OciRegistry
from shipyard.release.config import SigningMode
from shipyard.steps.context import ReleaseContext
from shipyard.steps.tools import RegistryAccess, Signer, cosign_container, run_tool_plan
from shipyard.supply_chain.cosign import CERTIFICATE_ANNOTATION, certificate_identity
from shipyard.supply_chain.replicas import ATTESTATIONS, OCI_MANIFEST, SIGNATURES, artifact_tag, replica
from shipyard.supply_chain.toolrun import ToolCommand
from shipyard.values.refs import parse_repository

PREDICATES = "/run/shipyard/predicates"


class SigningFailed(GateFailed):
    """cosign could not sign or attest in a target."""


async def run(ctx: ReleaseContext) -> None:
    """The ``sign`` step: recursive signatures, each platform's SBOMs (to its manifest and the
    index) and the provenance (to the index), in every target that holds the release."""
    job, made = ctx.job, ctx.artifacts
    assert made.release is not None and job.signer is not None
    release = made.release
    digest = release.index.digest
    repositories = [p.repository for p in made.pushes if p.ok]
    attestations = [
        Attestation(fmt.attestation_type, document, (release.manifests[platform].digest, digest), str(platform), "SBOMs")
        for (platform, fmt), document in sorted(made.sboms.items(), key=lambda item: (str(item[0][0]), item[0][1].value))
    ]
    if made.provenance is not None:
        attestations.append(Attestation("slsaprovenance1", made.provenance, (digest,), "all", "provenance"))
    tools = job.plan.tools
    copies = Copies(ctx.clients, (digest, *(d.digest for d in release.manifests.values())))  # --recursive signs them all
    signed = await sign_and_attest(tools.cosign, tools.golang, job.access, repositories, digest, job.signer, attestations, copies=copies)
    made.signatures = signed.signatures
    made.attestations = signed.attestations
    if job.signer.identity.mode is SigningMode.KEYLESS and repositories:
        made.signed_by = await _keyless_signer(ctx, repositories[0], digest)


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
    """A predicate to attest to ``subjects`` (digests) in every repository: a document, or a file
    the engine holds already (syft's SBOM, never sent through this process again)."""

    kind: str  # cosign's --type: spdxjson, cyclonedx, slsaprovenance1
    predicate: Mapping[str, Any] | dagger.File
    subjects: tuple[str, ...]
    platform: str  # the platform it describes, or "all" (provenance)
    what: str  # how failures name it: "SBOMs", "provenance"


@dataclass
class Signed:
    """What cosign wrote: repository -> signed reference, and each attestation made."""

    signatures: dict[str, str] = field(default_factory=dict)
    attestations: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Copies:
    """Where cosign's tags are copied from the target it wrote them in (``supply_chain/replicas.py``):
    the release's registry clients, and the subjects ``--recursive`` signed (the index first)."""

    clients: Mapping[str, OciRegistry]
    signed: tuple[str, ...] = ()


async def sign_and_attest(
    image: str,
    golang_image: str,
    access: RegistryAccess,
    repositories: Sequence[str],
    digest: str,
    signer: Signer,
    attestations: Sequence[Attestation],
    *,
    copies: Copies | None = None,
) -> Signed:
    """Sign ``repository@digest`` (the index) recursively, and each attestation, in each
    repository (``digest`` names the index among their subjects). With ``copies``, cosign writes
    in the first repository only and its tags are copied to the others (not with Sigstore
    bundles, which are OCI referrers: cosign writes those in every repository)."""
    writers = list(repositories) if copies is None or signer.identity.bundles else list(repositories[:1])
    container = cosign_container(image, access, signer)
    for n, attestation in enumerate(attestations):
        path = f"{PREDICATES}/{n}.json"
        if isinstance(attestation.predicate, dagger.File):
            container = container.with_file(path, attestation.predicate)
        else:
            container = container.with_new_file(path, json.dumps(attestation.predicate))
    # Registries over plain HTTP get cosign's insecure flags; the others' commands are their own,
    # so a TLS registry is never reached with its certificate checks relaxed.
    groups: dict[bool, list[str]] = {}
    for repository in writers:
        groups.setdefault(access.insecure([repository]), []).append(repository)
    passes = (False, True) if signer.identity.bundles else (False,)  # True: again, as Sigstore bundles (OCI referrers)
    chains: dict[tuple[bool, str], list[ToolCommand]] = {}  # (insecure, subject) -> what writes to it, in turn
    made: dict[str, tuple[list[str], Attestation | None, str]] = {}  # command -> repositories, what it makes (None: signatures), subject
    for insecure, group in sorted(groups.items()):
        tail = "-http" if insecure else ""
        for bundle in passes:
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
    parallel = len(groups) + 2
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
    if not failures and copies is not None and len(writers) < len(repositories):
        others = [r for r in repositories if r not in writers]
        tags = [artifact_tag(d, SIGNATURES) for d in copies.signed]
        tags += sorted({artifact_tag(subject, ATTESTATIONS) for a in attestations for subject in a.subjects})
        failed = await copy_tags(copies.clients, writers[0], others, tags)
        for repository, error in sorted(failed.items()):
            failures.setdefault("copying the signatures and attestations", []).append(f"{repository}: from {writers[0]}: {error}")
        copied = [r for r in others if r not in failed]
        done.signatures |= {r: f"{r}@{digest}" for r in copied}
        written = [a for a in done.attestations if a["repository"] == writers[0]]
        done.attestations += [{**a, "repository": r} for r in copied for a in written]
    if failures:
        detail = "; ".join(f"{what} failed ({'; '.join(sorted(lines))})" for what, lines in failures.items())
        raise SigningFailed(detail)
    done.signatures = {r: done.signatures[r] for r in repositories if r in done.signatures}
    done.attestations.sort(key=lambda d: (d["repository"], d["subject"], d["platform"], d["type"]))
    return done


async def copy_tags(clients: Mapping[str, OciRegistry], source: str, targets: Sequence[str], tags: Sequence[str]) -> dict[str, str]:
    """Copy cosign's ``tags`` from the ``source`` repository to each of ``targets``, merging with
    what a target holds under them already (``supply_chain/replicas.py``); every tag's blobs
    before its manifest. Returns target -> why it failed, for those that did."""
    src = parse_repository(source, what="target")
    reader = clients[src.registry]
    manifests: dict[str, bytes] = {}

    async def read(tag: str) -> None:
        manifests[tag] = (await reader.manifest_bytes(src.repository, tag))[0]

    try:
        async with anyio.create_task_group() as group:
            for tag in tags:
                group.start_soon(read, tag)
    except Exception as exc:  # the source's error: no target gets a copy
        error = shipyard_error_in(exc)
        if error is None:
            raise
        return dict.fromkeys(targets, str(error))
    fetched: dict[str, bytes] = {}
    locks: dict[str, anyio.Lock] = {}

    async def blob(digest: str) -> bytes:
        async with locks.setdefault(digest, anyio.Lock()):
            if digest not in fetched:
                fetched[digest] = await reader.blob_bytes(src.repository, digest)
        return fetched[digest]

    failed: dict[str, str] = {}

    async def copy(target: str, tag: str) -> None:
        ref = parse_repository(target, what="target")
        client = clients[ref.registry]
        try:
            existing = await client.manifest(ref.repository, tag)
            wanted = replica(manifests[tag], existing.body if existing is not None else None)
            if wanted is None:
                return
            mount = (src.repository,) if ref.registry == src.registry else ()
            async with anyio.create_task_group() as group:
                for digest in wanted.blobs:
                    group.start_soon(client.ensure_blob, ref.repository, digest, functools.partial(blob, digest), mount)
            if wanted.config is not None:
                config = "sha256:" + hashlib.sha256(wanted.config).hexdigest()
                await client.push_blob(ref.repository, config, wanted.config)
            await client.put_manifest(ref.repository, tag, wanted.manifest, OCI_MANIFEST)
        except Exception as exc:  # a registry's error, possibly inside a task group's exception group
            error = shipyard_error_in(exc)
            if error is None:
                raise
            failed.setdefault(target, str(error))

    async with anyio.create_task_group() as group:
        for target in targets:
            for tag in tags:
                group.start_soon(copy, target, tag)
    return failed


def _blamed(reason: str, repositories: Sequence[str], access: RegistryAccess) -> str:
    """The repositories a failed cosign command names in its reason (cosign stops at the first
    reference that fails), or all it was given."""
    named = [r for r in repositories if access.inside_name(r) in reason or r in reason]
    return ", ".join(named or repositories)
