"""Sign the release with cosign in every target registry, before any tag moves.

Signatures live per repository, so each target gets its own, by digest: ``--recursive`` signs
the index and every platform manifest. Key mode is offline by default (no transparency-log
upload); keyless mode gets a Fulcio certificate for an OIDC identity. The command lines are
``plan/cosign.py``'s; the key, its password and tokens reach cosign only as Secrets (mounted
files and secret variables, ``steps/tools.py``), never as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import dagger

from shipyard.plan.errors import GateFailed
from shipyard.steps.tools import RegistryAccess, Signer, bundle_lock, cosign_container, last_line, tool_unavailable


class SigningFailed(GateFailed):
    """cosign could not sign in a target; no tag was moved."""


async def sign_release(image: str, access: RegistryAccess, repositories: Sequence[str], digest: str, signer: Signer) -> dict[str, str]:
    """Sign ``repository@digest`` recursively in each repository; returns repository -> signed reference."""
    signed: dict[str, str] = {}
    errors: list[str] = []

    async def one(repository: str) -> None:
        reference = f"{repository}@{digest}"
        insecure = access.insecure([repository.split("/", 1)[0]])
        try:
            container = cosign_container(image, access, signer)
            await container.with_exec(signer.identity.sign_args(access.inside(reference), insecure=insecure), use_entrypoint=False).sync()
            if signer.identity.bundles:
                args = signer.identity.sign_args(access.inside(reference, http_name=True), insecure=insecure, bundle=True)
                async with bundle_lock(reference):
                    await container.with_exec(args, use_entrypoint=False).sync()
            signed[repository] = reference
        except dagger.ExecError as exc:
            errors.append(f"{repository}: {signer.explain(last_line(exc, 'cosign'))}")
        except dagger.QueryError as exc:
            raise tool_unavailable(image, exc) from None

    async with anyio.create_task_group() as group:
        for repository in repositories:
            group.start_soon(one, repository)
    if errors:
        raise SigningFailed(f"signing failed ({'; '.join(sorted(errors))}); no tag was moved on any registry")
    return {r: signed[r] for r in repositories}
