"""``verify``: check a published release as a consumer would (signatures, attestations, SBOMs, a re-scan)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from shipyard.commands.door import Door, required_image, tool_images_from_text
from shipyard.commands.options import Arguments, settled
from shipyard.errors import shipyard_error_in
from shipyard.gates.scan import evaluate_gate

# A release's registry requests are retried harder than cleanup's: a push is idempotent, and a
from shipyard.output_dir import OutputDir
from shipyard.pipeline import _platform_of, registry_client
from shipyard.registries.oci import FetchedManifest, OciRegistry
from shipyard.release.config import (
    ScanPolicy,
    ToolImages,
)
from shipyard.release.image import Descriptor, platform_key
from shipyard.reports.verification import (
    PER_PLATFORM,
    Check,
    VerifyReport,
    expected_checks,
    inspect_image,
    parse_attestation_types,
    signed_digests,
)
from shipyard.steps.scan import scan_release
from shipyard.steps.tools import (
    RegistryAccess,
    Sigstore,
    keep_running,
    sigstore_hosts,
)
from shipyard.steps.verify import verify_attestation, verify_signature
from shipyard.supply_chain.cosign import (
    BUNDLE_ARTIFACT_TYPE,
    TrustPolicy,
    referrers_fallback_subjects,
    trust_files,
    trust_policy,
)
from shipyard.values.platforms import Platform
from shipyard.values.refs import Digest, ImageRef, parse_reference


@dataclass(frozen=True)
class VerifyOptions:
    """What ``verify`` was asked, read once from the door's arguments."""

    image: str
    key: str | None  # the cosign public key (PEM)
    certificate_identity: str
    certificate_identity_regexp: str
    certificate_oidc_issuer: str
    certificate_oidc_issuer_regexp: str
    rekor_url: str
    trusted_root: str | None
    attestations: tuple[str, ...]
    scan_fail_on: str
    trivyignore: str | None
    tool_images: str | None


def verify_options_from(read: Arguments) -> VerifyOptions:
    options = VerifyOptions(
        image=read("image", ""),
        key=read("key"),
        certificate_identity=read("certificate_identity", ""),
        certificate_identity_regexp=read("certificate_identity_regexp", ""),
        certificate_oidc_issuer=read("certificate_oidc_issuer", ""),
        certificate_oidc_issuer_regexp=read("certificate_oidc_issuer_regexp", ""),
        rekor_url=read("rekor_url", ""),
        trusted_root=read("sigstore_trusted_root"),
        attestations=tuple(read("attestation", ())),
        scan_fail_on=read("scan_fail_on", ""),
        trivyignore=read("trivyignore"),
        tool_images=read("tool_images"),
    )
    read.done("verify")
    return options


def verify_checks(options: VerifyOptions) -> tuple[ImageRef, TrustPolicy, tuple[str, ...], ScanPolicy | None]:
    """verify's arguments checked and parsed: the reference, whom to trust, what must be there."""
    policy = trust_policy(
        has_key=options.key is not None,
        certificate_identity=options.certificate_identity,
        certificate_identity_regexp=options.certificate_identity_regexp,
        certificate_oidc_issuer=options.certificate_oidc_issuer,
        rekor_url=options.rekor_url,
        certificate_oidc_issuer_regexp=options.certificate_oidc_issuer_regexp,
        has_trusted_root=options.trusted_root is not None,
    )
    if options.trusted_root is not None:
        trust_files(options.trusted_root)
    reference = parse_reference(required_image(options.image, "the release to verify"), what="--image")
    return reference, policy, parse_attestation_types(options.attestations), _scan_policy(options.scan_fail_on, options.trivyignore)


def _scan_policy(fail_on: str, ignore: str | None) -> ScanPolicy | None:
    return ScanPolicy.from_strings(fail_on, [ignore] if ignore else []) if fail_on else None


async def prepare(given: Mapping[str, Any], door: Door) -> VerifyOptions:
    """``verify``'s options, built once from what the door gave, and checked (before an engine starts)."""
    del door  # nothing of the door decides them
    options = verify_options_from(Arguments((await settled("verify", given)).arguments))
    verify_checks(options)
    return options


async def verify(options: VerifyOptions, door: Door) -> VerifyReport:
    """Verify a published release as a consumer: signatures on the index and every platform, the
    expected attestations, the SBOMs read out of them, a re-scan, and an inspection."""
    reference, policy, attestations, scan = verify_checks(options)
    hosts, services = sigstore_hosts({"rekor-url": policy.rekor_url} if not policy.key else {}, door.endpoint)
    tools = options.tool_images
    state = VerifyState(
        reference=reference,
        policy=policy.reached_through(hosts),
        sigstore=Sigstore(services=services, trusted_root=options.trusted_root),
        public_key=options.key,
        attestations=attestations,
        scan=scan,
        tools=tool_images_from_text(tools, "--tool-images") if tools is not None else door.tools(),
        access=RegistryAccess(endpoints={reference.registry: door.endpoint(reference.registry)}, credentials=door.credentials),
        out=door.out,
    )
    await keep_running([*state.access.endpoints.values(), *state.sigstore.services])
    report = await run_verify(state)
    OutputDir(door.out).write_text("verify.json", report.dumps() + "\n")
    return report


@dataclass
class VerifyState:
    """A verification's inputs: the published reference, whom to trust, what must be there."""

    reference: ImageRef
    policy: TrustPolicy
    public_key: str | None  # the cosign public key (PEM), when verifying with a key
    attestations: tuple[str, ...]
    scan: ScanPolicy | None
    tools: ToolImages
    access: RegistryAccess
    out: Path | None = None
    sigstore: Sigstore = field(default_factory=Sigstore)  # keyless: a private Sigstore's services and trusted root


async def run_verify(state: VerifyState) -> VerifyReport:
    """Check a published release as a consumer would; every failure is reported, none raised."""
    ref = state.reference
    trusted = state.policy.describe()
    try:
        async with registry_client(state.access, ref.registry) as client:
            fetched = await client.manifest(ref.repository, ref.digest or ref.tag or "latest")
            if fetched is None:
                return VerifyReport(str(ref), None, trusted, error=f"{ref} does not exist in {ref.registry}")
            children = _platform_manifests(fetched)
            images = [
                inspect_image(str(p), d, m.body, await client.blob_json(ref.repository, m.body["config"]["digest"]))
                for p, d in children.items()
                if (m := await client.manifest(ref.repository, d)) is not None
            ]
            tags = await client.list_tags(ref.repository)
            bundled = referrers_fallback_subjects(tags)  # digests with Sigstore bundles (or other referrers)
            bundled |= await _api_bundled(client, ref.repository, [fetched.digest, *children.values()])
    except Exception as exc:  # a ShipyardError (the registry refused), possibly in an exception group
        error = shipyard_error_in(exc)
        if error is None:
            raise
        return VerifyReport(str(ref), None, trusted, error=str(error))
    subjects = {"index": fetched.digest, **{str(p): d for p, d in children.items()}}
    checks: dict[tuple[str, str], Check] = {}
    statements: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {}

    async def one(name: str, subject: str) -> None:
        reference = f"{ref.name}@{subjects[subject]}"
        cosign = state.tools.cosign
        if name == "signature":
            outcome = await verify_signature(
                cosign, state.access, state.policy, state.public_key, reference, state.sigstore, bundles=subjects[subject] in bundled
            )
        else:
            kind = name.split(" ", 1)[1]
            outcome = await verify_attestation(
                cosign, state.access, state.policy, state.public_key, reference, kind, state.sigstore, bundles=subjects[subject] in bundled
            )
            statements[(name, subject)] = outcome.statements
        checks[(name, subject)] = Check(name, subject, subjects[subject], outcome.ok, outcome.detail)

    order = expected_checks([str(p) for p in children], state.attestations)
    async with anyio.create_task_group() as group:
        for name, subject in order:
            group.start_soon(one, name, subject)
    sboms = _write_verified_sboms(statements, state.out)
    scan = None
    if state.scan is not None:
        manifests = {p: Descriptor(media_type="", digest=d, size=0) for p, d in children.items()}
        try:
            reports = await scan_release(state.tools.trivy, state.tools.trivy_db, state.tools.golang, state.access, ref.name, manifests)
            scan = evaluate_gate(reports, state.scan).to_dict()
        except Exception as exc:
            error = shipyard_error_in(exc)
            if error is None:
                raise
            scan = {"gate": "failed", "failing": [str(error)]}
    report_checks = tuple(checks[key] for key in order)
    return VerifyReport(
        str(ref),
        fetched.digest,
        trusted,
        checks=report_checks,
        images=tuple(images),
        sboms=tuple(sboms),
        scan=scan,
        hints=tuple(_verify_hints(ref, fetched.digest, tags, report_checks, trusted)),
    )


async def _api_bundled(client: OciRegistry, repository: str, digests: Sequence[str]) -> set[str]:
    """The digests the OCI 1.1 referrers API lists Sigstore bundles for (none where the registry
    has no such API: the fallback tags say it there)."""
    found: set[str] = set()
    for digest in digests:
        listed = await client.referrers(repository, digest, BUNDLE_ARTIFACT_TYPE)
        if listed is None:
            return found
        if listed:
            found.add(digest)
    return found


def _platform_manifests(fetched: FetchedManifest) -> dict[Platform, str]:
    """Platform -> manifest digest of an index (attestation manifests of other tools skipped)."""
    if not fetched.is_index:
        return {}
    out: dict[Platform, str] = {}
    for entry in fetched.body.get("manifests", []):
        platform = _platform_of(entry.get("platform", {}))
        if platform.os and platform.os != "unknown":
            out[platform] = entry["digest"]
    return dict(sorted(out.items(), key=lambda item: platform_key(item[0])))


def _write_verified_sboms(statements: Mapping[tuple[str, str], Sequence[dict[str, Any]]], out: Path | None) -> list[str]:
    """Each platform's SBOM, taken from its verified attestation, as a file in ``out/sbom``."""
    output = OutputDir(out)
    written = []
    for (name, subject), found in sorted(statements.items()):
        kind = name.split(" ", 1)[1]
        if subject == "index" or kind not in PER_PLATFORM or not found:
            continue
        path = output.write_text(f"sbom/{subject.replace('/', '-')}.{kind}.json", json.dumps(found[0]["predicate"], indent=2) + "\n")
        if path is not None:
            written.append(str(path))
    return written


def _verify_hints(ref: ImageRef, digest: str, tags: Sequence[str], checks: Sequence[Check], trusted: str) -> list[str]:
    """What the failures suggest, from what the repository holds."""
    hints = []
    signed = signed_digests(tags)
    index_signature = next((c for c in checks if c.name == "signature" and c.subject == "index"), None)
    if index_signature is not None and not index_signature.ok:
        if not signed:
            hints.append(f"{ref.name} holds no cosign signatures at all (no sha256-….sig tags): the release was never signed")
        elif digest not in signed:
            where = f"{ref.name}:{ref.tag}" if ref.tag else str(ref)
            hints.append(
                f"{where} points to {digest}, which has no signature, while {ref.name} holds signatures for "
                f"{', '.join(signed)}: the tag was moved after the release was signed"
            )
        else:
            hints.append(f"{digest} is signed, but not by {trusted}: check the key or identity you verify with")
    attested = {t[len("sha256-") : -len(".att")] for t in tags if t.endswith(".att")}
    for check in checks:
        if check.name.startswith("attestation") and not check.ok and Digest.parse(check.digest).hex not in attested:
            hints.append(f"{check.subject} ({check.digest}) has no attestations stored at all: they were removed or never made")
    return list(dict.fromkeys(hints))
