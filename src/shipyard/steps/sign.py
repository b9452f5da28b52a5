"""Sign the release with cosign (key mode) in every target registry, before any tag moves.

Signatures live per repository, so each target gets its own, by digest: ``--recursive`` signs
the index and every platform manifest. Offline by default: no transparency-log upload. The
private key and its password reach the cosign container only as Secrets (a mounted file and a
secret variable), never as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import dagger

from shipyard.plan.errors import GateFailed
from shipyard.steps.tools import KEY_PATH, RegistryAccess, SigningKey, cosign_container


class SigningFailed(GateFailed):
    """cosign could not sign in a target; no tag was moved."""


async def sign_release(image: str, access: RegistryAccess, repositories: Sequence[str], digest: str, key: SigningKey) -> dict[str, str]:
    """Sign ``repository@digest`` recursively in each repository; returns repository -> signed reference."""
    signed: dict[str, str] = {}
    errors: list[str] = []

    async def one(repository: str) -> None:
        reference = f"{repository}@{digest}"
        container = cosign_container(image, access, key)
        args = ["cosign", "sign", "--yes", "--recursive", "--tlog-upload=false", "--key", KEY_PATH]
        if access.insecure([reference.split("/", 1)[0]]):
            args += ["--allow-insecure-registry", "--allow-http-registry"]
        try:
            await container.with_exec([*args, access.inside(reference)], use_entrypoint=False).sync()
            signed[repository] = reference
        except dagger.ExecError as exc:
            detail = (exc.stderr or exc.stdout).strip().splitlines()
            errors.append(f"{repository}: {detail[-1] if detail else f'cosign exited with {exc.exit_code}'}")

    async with anyio.create_task_group() as group:
        for repository in repositories:
            group.start_soon(one, repository)
    if errors:
        raise SigningFailed(f"signing failed ({'; '.join(sorted(errors))}); no tag was moved on any registry")
    return {r: signed[r] for r in repositories}
