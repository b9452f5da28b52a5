"""An SBOM per platform image (syft, in its tool container), attested to that platform's own
manifest and to the index, in every target, before any tag moves.

Attaching one platform's SBOM to the whole index is a known complaint about other tools: here
each platform manifest carries its own SBOM, and the index carries one attestation per platform,
so ``cosign verify-attestation --type spdxjson IMAGE:TAG`` works on the tag too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence

import anyio
import dagger

from shipyard.plan.config import SbomFormat
from shipyard.plan.errors import GateFailed
from shipyard.plan.image import Descriptor
from shipyard.plan.platforms import Platform
from shipyard.steps.tools import RegistryAccess, Signer, cosign_attest, last_line, tool_container, tool_unavailable


class SbomFailed(GateFailed):
    """syft or cosign attest failed; no tag was moved."""


async def generate_sboms(
    image: str, access: RegistryAccess, repository: str, manifests: Mapping[Platform, Descriptor], formats: Sequence[SbomFormat]
) -> dict[tuple[Platform, SbomFormat], str]:
    """syft on each platform image (by digest, from ``repository``), each format: the documents."""
    documents: dict[tuple[Platform, SbomFormat], str] = {}
    errors: list[str] = []
    insecure = access.insecure([repository.split("/", 1)[0]])

    async def one(platform: Platform, descriptor: Descriptor, fmt: SbomFormat) -> None:
        reference = access.inside(f"{repository}@{descriptor.digest}")
        container = tool_container(image, access).with_env_variable("SYFT_CHECK_FOR_APP_UPDATE", "false")
        if insecure:
            container = container.with_env_variable("SYFT_REGISTRY_INSECURE_USE_HTTP", "true")
        try:
            documents[(platform, fmt)] = await container.with_exec(
                ["syft", "scan", f"registry:{reference}", "-o", fmt.value, "-q"], use_entrypoint=False
            ).stdout()
        except dagger.ExecError as exc:
            errors.append(f"{platform}: {last_line(exc, 'syft')}")
        except dagger.QueryError as exc:
            raise tool_unavailable(image, exc) from None

    async with anyio.create_task_group() as group:
        for platform, descriptor in manifests.items():
            for fmt in formats:
                group.start_soon(one, platform, descriptor, fmt)
    if errors:
        raise SbomFailed(f"SBOM generation failed ({'; '.join(sorted(errors))}); no tag was moved on any registry")
    return documents


async def attest_sboms(
    image: str,
    access: RegistryAccess,
    repositories: Sequence[str],
    index: str,
    manifests: Mapping[Platform, Descriptor],
    documents: Mapping[tuple[Platform, SbomFormat], str],
    signer: Signer,
) -> list[dict[str, str]]:
    """``cosign attest`` each platform's SBOM to its manifest and to the index, in every repository."""
    done: list[dict[str, str]] = []
    errors: list[str] = []

    async def one(repository: str, subject: str, platform: Platform, fmt: SbomFormat, document: str) -> None:
        reference = f"{repository}@{subject}"
        error = await cosign_attest(image, access, signer, reference, fmt.attestation_type, json.loads(document))
        if error is None:
            done.append({"repository": repository, "subject": subject, "platform": str(platform), "type": fmt.attestation_type})
        else:
            errors.append(f"{reference} ({platform}): {error}")

    # Attestations to one subject are appended to one tag: each subject's are written one at a
    # time; different subjects (each platform manifest, the index) and repositories at once.
    async with anyio.create_task_group() as group:
        for repository in repositories:
            for subject, items in _by_subject(index, manifests, documents).items():
                group.start_soon(_attest_in_turn, one, repository, subject, items)
    if errors:
        raise SbomFailed(f"attesting SBOMs failed ({'; '.join(sorted(errors))}); no tag was moved on any registry")
    return sorted(done, key=lambda d: (d["repository"], d["subject"], d["platform"], d["type"]))


_Attest = Callable[[str, str, Platform, SbomFormat, str], Awaitable[None]]
_Item = tuple[Platform, SbomFormat, str]


def _by_subject(
    index: str, manifests: Mapping[Platform, Descriptor], documents: Mapping[tuple[Platform, SbomFormat], str]
) -> dict[str, list[_Item]]:
    """Subject digest -> the SBOMs attested to it: each platform's to its manifest and to the index."""
    out: dict[str, list[_Item]] = {}
    for (platform, fmt), document in sorted(documents.items(), key=lambda item: (str(item[0][0]), item[0][1].value)):
        out.setdefault(manifests[platform].digest, []).append((platform, fmt, document))
        out.setdefault(index, []).append((platform, fmt, document))
    return out


async def _attest_in_turn(one: _Attest, repository: str, subject: str, items: Sequence[_Item]) -> None:
    for platform, fmt, document in items:
        await one(repository, subject, platform, fmt, document)
