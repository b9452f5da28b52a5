"""cosign verification of a published release, in its tool container (``verify``).

Each check is one ``cosign verify`` or ``cosign verify-attestation`` by digest, with the trust
(a public key, or a keyless identity and issuer) from ``plan/cosign.py``. A failed check comes
back as cosign's reason, never as an exception: ``verify`` reports every failure at once.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import dagger

from shipyard.plan.cosign import PREDICATE_TYPES, PUBLIC_KEY_PATH, TrustPolicy
from shipyard.steps.tools import RegistryAccess, Sigstore, tool_container, tool_unavailable

_COSIGN_PREFIX = re.compile(r"^(?:main\.go:\d+: )?(?:error during command execution: |Error: )?")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str = ""
    statements: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # verified in-toto statements


def _reason(exc: dagger.ExecError) -> str:
    lines = [line for line in (exc.stderr or exc.stdout).strip().splitlines() if line.strip()]
    return _COSIGN_PREFIX.sub("", lines[-1]).strip() if lines else f"cosign exited with {exc.exit_code}"


def _container(image: str, access: RegistryAccess, public_key: str | None, sigstore: Sigstore) -> dagger.Container:
    container = sigstore.attach(tool_container(image, access))
    return container.with_new_file(PUBLIC_KEY_PATH, public_key) if public_key is not None else container


async def verify_signature(
    image: str, access: RegistryAccess, policy: TrustPolicy, public_key: str | None, reference: str, sigstore: Sigstore
) -> Outcome:
    """Is ``reference`` (by digest) signed by the trusted signer?"""
    args = policy.verify_args(access.inside(reference), insecure=access.insecure([reference.split("/", 1)[0]]))
    try:
        await _container(image, access, public_key, sigstore).with_exec(args, use_entrypoint=False).sync()
    except dagger.ExecError as exc:
        return Outcome(False, policy.explain(_reason(exc)))
    except dagger.QueryError as exc:
        raise tool_unavailable(image, exc) from None
    return Outcome(True)


async def verify_attestation(
    image: str, access: RegistryAccess, policy: TrustPolicy, public_key: str | None, reference: str, kind: str, sigstore: Sigstore
) -> Outcome:
    """Does ``reference`` carry a valid attestation of type ``kind`` by the trusted signer? With
    the statements it verified (their predicates: SBOMs, provenance)."""
    args = policy.verify_attestation_args(access.inside(reference), kind, insecure=access.insecure([reference.split("/", 1)[0]]))
    try:
        out = await _container(image, access, public_key, sigstore).with_exec(args, use_entrypoint=False).stdout()
    except dagger.ExecError as exc:
        return Outcome(False, policy.explain(_reason(exc)))
    except dagger.QueryError as exc:
        raise tool_unavailable(image, exc) from None
    statements = []
    for line in out.splitlines():
        if not line.strip().startswith("{"):
            continue
        envelope = json.loads(line)
        statement = json.loads(base64.b64decode(envelope.get("payload", "")))
        if statement.get("predicateType") == PREDICATE_TYPES[kind]:
            statements.append(statement)
    if not statements:
        return Outcome(False, f"cosign verified no {kind} statement")
    return Outcome(True, f"{len(statements)} verified", tuple(statements))
