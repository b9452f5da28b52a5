"""cosign verification of a published release, in its tool container (``verify``).

Each check is one ``cosign verify`` or ``cosign verify-attestation`` by digest, with the trust
(a public key, or a keyless identity and issuer) from ``supply_chain/cosign.py``. A failed check comes
back as cosign's reason, never as an exception: ``verify`` reports every failure at once.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import dagger

from shipyard.steps.tools import RegistryAccess, Sigstore, ToolFailed, tool_container, tool_errors
from shipyard.supply_chain.cosign import PREDICATE_TYPES, PUBLIC_KEY_PATH, TrustPolicy

_COSIGN_PREFIX = re.compile(r"^(?:main\.go:\d+: )?(?:error during command execution: |Error: )?")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str = ""
    statements: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # verified in-toto statements


def _reason(failed: ToolFailed) -> str:
    return _COSIGN_PREFIX.sub("", failed.reason).strip()


def _container(image: str, access: RegistryAccess, public_key: str | None, sigstore: Sigstore) -> dagger.Container:
    container = sigstore.attach(tool_container(image, access))
    return container.with_new_file(PUBLIC_KEY_PATH, public_key) if public_key is not None else container


async def verify_signature(
    image: str,
    access: RegistryAccess,
    policy: TrustPolicy,
    public_key: str | None,
    reference: str,
    sigstore: Sigstore,
    *,
    bundles: bool = False,
) -> Outcome:
    """Is ``reference`` (by digest) signed by the trusted signer? The classic ``.sig`` tag first;
    with ``bundles`` (an OCI 1.1 referrers fallback tag exists) a Sigstore bundle passes too."""
    outcome = Outcome(False)
    for bundle in (False, True) if bundles else (False,):
        inside = access.inside(reference, http_name=bundle)
        args = policy.verify_args(inside, insecure=access.insecure([reference]), bundle=bundle)
        try:
            with tool_errors("cosign", image):
                await _container(image, access, public_key, sigstore).with_exec(args, use_entrypoint=False).sync()
        except ToolFailed as failed:
            outcome = Outcome(False, policy.explain(_reason(failed)) + (" (Sigstore bundles in OCI referrers)" if bundle else ""))
            continue
        return Outcome(True, "Sigstore bundle (OCI referrer)" if bundle else "")
    return outcome


async def verify_attestation(
    image: str,
    access: RegistryAccess,
    policy: TrustPolicy,
    public_key: str | None,
    reference: str,
    kind: str,
    sigstore: Sigstore,
    *,
    bundles: bool = False,
) -> Outcome:
    """Does ``reference`` carry a valid attestation of type ``kind`` by the trusted signer? With
    the statements it verified (their predicates: SBOMs, provenance). The classic ``.att`` tag
    first; with ``bundles``, Sigstore bundles in OCI referrers too."""
    failure = Outcome(False)
    for bundle in (False, True) if bundles else (False,):
        args = policy.verify_attestation_args(
            access.inside(reference, http_name=bundle), kind, insecure=access.insecure([reference]), bundle=bundle
        )
        try:
            with tool_errors("cosign", image):
                out = await _container(image, access, public_key, sigstore).with_exec(args, use_entrypoint=False).stdout()
        except ToolFailed as failed:
            failure = Outcome(False, policy.explain(_reason(failed)) + (" (Sigstore bundles in OCI referrers)" if bundle else ""))
            continue
        statements = _statements(out, kind)
        if statements:
            where = " in Sigstore bundles (OCI referrers)" if bundle else ""
            return Outcome(True, f"{len(statements)} verified{where}", tuple(statements))
        failure = Outcome(False, f"cosign verified no {kind} statement")
    return failure


def _statements(out: str, kind: str) -> list[dict[str, Any]]:
    """The in-toto statements of type ``kind`` in cosign's output: DSSE envelopes, one a line
    (classic), or bundles holding one (``--new-bundle-format``)."""
    statements = []
    for line in out.splitlines():
        if not line.strip().startswith("{"):
            continue
        envelope = json.loads(line)
        envelope = envelope.get("dsseEnvelope", envelope)
        statement = json.loads(base64.b64decode(envelope.get("payload", "")))
        if statement.get("predicateType") == PREDICATE_TYPES[kind]:
            statements.append(statement)
    return statements
