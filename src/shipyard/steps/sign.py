"""Sign the release with cosign (key mode) in every target registry, before any tag moves.

Signatures live per repository, so each target gets its own, by digest: ``--recursive`` signs
the index and every platform manifest. Offline by default: no transparency-log upload. The
private key and its password reach the cosign container only as Secrets (a mounted file and a
secret variable), never as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import dagger

from shipyard.plan.errors import GateFailed
from shipyard.steps.tools import RegistryAccess, tool_container

KEY_PATH = "/run/shipyard/cosign.key"


@dataclass(frozen=True)
class SigningKey:
    key: dagger.Secret
    password: dagger.Secret | None = None


class SigningFailed(GateFailed):
    """cosign could not sign in a target; no tag was moved."""


async def sign_release(image: str, access: RegistryAccess, repositories: Sequence[str], digest: str, key: SigningKey) -> dict[str, str]:
    """Sign ``repository@digest`` recursively in each repository; returns repository -> signed reference."""
    signed: dict[str, str] = {}
    errors: list[str] = []

    async def one(repository: str) -> None:
        reference = f"{repository}@{digest}"
        container = tool_container(image, access).with_mounted_secret(KEY_PATH, key.key)
        if key.password is not None:
            container = container.with_secret_variable("COSIGN_PASSWORD", key.password)
        else:
            container = container.with_env_variable("COSIGN_PASSWORD", "")
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


async def attest(image: str, access: RegistryAccess, reference: str, predicate: str, kind: str, key: SigningKey) -> str | None:
    """``cosign attest --type KIND`` a predicate to ``reference`` (by digest); the error line, or None."""
    container = (
        tool_container(image, access).with_mounted_secret(KEY_PATH, key.key).with_new_file("/run/shipyard/predicate.json", predicate)
    )
    if key.password is not None:
        container = container.with_secret_variable("COSIGN_PASSWORD", key.password)
    else:
        container = container.with_env_variable("COSIGN_PASSWORD", "")
    args = ["cosign", "attest", "--yes", "--tlog-upload=false", "--key", KEY_PATH, "--type", kind]
    args += ["--predicate", "/run/shipyard/predicate.json"]
    if access.insecure([reference.split("/", 1)[0]]):
        args += ["--allow-insecure-registry", "--allow-http-registry"]
    try:
        await container.with_exec([*args, access.inside(reference)], use_entrypoint=False).sync()
    except dagger.ExecError as exc:
        lines = (exc.stderr or exc.stdout).strip().splitlines()
        return lines[-1] if lines else f"cosign exited with {exc.exit_code}"
    return None
