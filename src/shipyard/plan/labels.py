"""OCI labels and annotations, stamped from inputs and Git metadata, never from the clock."""

from __future__ import annotations

from datetime import UTC, datetime

from shipyard.plan.errors import InvalidInput

# Used when the source has no Git history and no SOURCE_DATE_EPOCH is given: a fixed,
# documented instant keeps digests reproducible instead of silently using "now".
FALLBACK_EPOCH = 0

_KEYS = ("title", "description", "version", "revision", "source", "url", "licenses", "vendor")


def parse_epoch(value: str | int | None) -> int | None:
    """Validate ``SOURCE_DATE_EPOCH`` (seconds since 1970, UTC); ``None``/``""`` means unset."""
    if value is None or value == "":
        return None
    try:
        epoch = int(value)
    except ValueError:
        raise InvalidInput(
            "SOURCE_DATE_EPOCH",
            value,
            "is not a whole number of seconds",
            "Use e.g. $(git log -1 --format=%ct).",
        ) from None
    if epoch < 0:
        raise InvalidInput("SOURCE_DATE_EPOCH", value, "is negative", "Use seconds since 1970-01-01 UTC.")
    return epoch


def created_timestamp(epoch: int) -> str:
    """RFC 3339 UTC time for ``org.opencontainers.image.created``."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def oci_annotations(*, epoch: int, **values: str | None) -> dict[str, str]:
    """``org.opencontainers.image.*`` annotations from the given values (empty ones omitted)."""
    unknown = set(values) - set(_KEYS)
    if unknown:
        raise InvalidInput("label", sorted(unknown)[0], "is not an OCI annotation Shipyard sets", "Use one of: " + ", ".join(_KEYS) + ".")
    out = {f"org.opencontainers.image.{k}": v for k in _KEYS if (v := values.get(k))}
    out["org.opencontainers.image.created"] = created_timestamp(epoch)
    return dict(sorted(out.items()))
