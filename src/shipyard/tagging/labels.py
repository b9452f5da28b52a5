"""OCI labels and annotations, stamped from inputs and Git metadata, never from the clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shipyard.errors import InvalidInput

# Used when the source has no Git history and no SOURCE_DATE_EPOCH is given: a fixed,
# documented instant keeps digests reproducible instead of silently using "now".
FALLBACK_EPOCH = 0

_KEYS = ("title", "description", "version", "revision", "source", "url", "licenses", "vendor")


# The last second of year 9999: RFC 3339 (and so the created annotation) has four-digit years.
MAX_EPOCH = 253402300799


def parse_epoch(value: str | int | None, *, what: str = "SOURCE_DATE_EPOCH") -> int | None:
    """Validate ``SOURCE_DATE_EPOCH`` (seconds since 1970, UTC); ``None``/``""`` means unset."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not re.fullmatch(r"\s*-?[0-9]{1,30}\s*", value):
        raise InvalidInput(what, value, "is not a whole number of seconds", "Use e.g. $(git log -1 --format=%ct).")
    epoch = int(value)
    if epoch < 0:
        raise InvalidInput(what, value, "is negative", "Use seconds since 1970-01-01 UTC.")
    if epoch > MAX_EPOCH:
        raise InvalidInput(what, value, "is after the year 9999", "Use seconds since 1970-01-01 UTC, e.g. $(git log -1 --format=%ct).")
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
