"""``tags``: the image tags for a Git ref, exactly as docker/metadata-action computes them (no engine)."""

from __future__ import annotations

from shipyard.commands.door import (
    Door,
    _block,
    _epoch,
    _info,
)
from shipyard.errors import InvalidInput
from shipyard.source import SourceTree
from shipyard.tagging.tags import TagResult, tags_for


async def tags(
    *,
    ref: str,
    sha: str,
    event: str,
    default_branch: str,
    spec: str,
    flavor: str,
    base_ref: str,
    source_date_epoch: int | None,
    source: SourceTree | None,
    door: Door,
) -> TagResult:
    """The image tags for a Git ref, exactly as docker/metadata-action computes them."""
    info = await _info(source)
    result = tags_for(
        ref=ref,
        sha=sha or info.sha,
        event=event,
        default_branch=default_branch,
        base_ref=base_ref,
        specs=_block(spec),
        flavor=_block(flavor),
        source_date_epoch=_epoch(source_date_epoch, door),
        commit_epoch=info.commit_epoch,
    )
    if not result.tags:  # nothing to tag is a mistake in the inputs, not an answer to print
        raise InvalidInput(
            "--ref",
            ref,
            "gives no image tag with these tag rules" if ref else "is empty, so there is no tag",
            "Give the Git ref that triggered the release (e.g. --ref refs/tags/v1.2.3), or a tag rule that applies to it.",
        )
    return result
