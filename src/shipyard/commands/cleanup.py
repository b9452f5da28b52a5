"""``cleanup``: delete old images, signatures and attestations by policy, over the registry APIs (no engine)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from shipyard.auth import credentials_for
from shipyard.commands.door import (
    Door,
    required_image,
)
from shipyard.errors import shipyard_error_in
from shipyard.registries.backends.apply import run_cleanup
from shipyard.registries.backends.select import BackendKind, open_backend
from shipyard.reports.report import CleanupReport
from shipyard.retention.policy import policy_from_args
from shipyard.values.refs import parse_repository


async def cleanup(
    *,
    image: str,
    keep_untagged: int | None,
    keep_prereleases: int | None,
    older_than: str,
    protect: Sequence[str],
    protect_regex: Sequence[str],
    no_default_protection: bool,
    only_untagged: bool,
    backend: BackendKind,
    api_url: str,
    apply: bool,
    door: Door,
) -> CleanupReport:
    """Pick the backend, plan with the retention policy, and delete with ``apply``."""
    policy = policy_from_args(
        keep_untagged=keep_untagged,
        keep_prereleases=keep_prereleases,
        older_than=older_than,
        protect=list(protect),
        protect_regex=list(protect_regex),
        only_untagged=only_untagged,
        default_protection=not no_default_protection,
    )
    credentials = credentials_for(
        door.credentials, parse_repository(required_image(image, "the repository to clean"), what="--image").registry
    )
    try:
        async with open_backend(image, backend, credentials, api_url) as (chosen, path):
            return await run_cleanup(chosen, path, policy, now=datetime.now(UTC), apply=apply)
    except BaseExceptionGroup as group:  # concurrent reads: report the registry's error, not the group
        raise shipyard_error_in(group) or group from None
