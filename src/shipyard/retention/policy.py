"""The retention policy: what a cleanup may delete and what is always protected. Pure: no I/O.

The policy is built from the ``cleanup`` arguments (both doors) by :func:`policy_from_args`;
``retention/planner.py`` applies it to an inventory.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from shipyard.errors import InvalidInput
from shipyard.values.refs import validate_tag

DEFAULT_PROTECT = ("latest", "stable")
RELEASE_TAG_PATTERN = r"v?(0|[1-9]\d*)(\.(0|[1-9]\d*)){0,2}"
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_AGE_DAYS = 36500  # a hundred years: older than the OCI distribution spec itself


def parse_duration(text: str, *, what: str = "--older-than") -> timedelta:
    """``90d``, ``12h``, ``2w``, ``1w3d`` -> timedelta; more than zero, at most a hundred years."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise InvalidInput(what, text, "is not a duration", "Write it as a number and unit (s, m, h, d, w), e.g. 90d, 12h or 2w.")
    if any(len(n) > 12 for n, _ in parts):
        raise InvalidInput(what, text, f"is longer than {MAX_AGE_DAYS} days", "Use a realistic age, e.g. 90d or 52w.")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds == 0:
        raise InvalidInput(what, text, "is zero, so every unprotected tag would count as old", "Use a positive duration, e.g. 90d.")
    if seconds > MAX_AGE_DAYS * 86400:
        raise InvalidInput(what, text, f"is longer than {MAX_AGE_DAYS} days", "Use a realistic age, e.g. 90d or 52w.")
    return timedelta(seconds=seconds)


class RetentionPolicy(BaseModel):
    """What a cleanup may delete. Each rule is off unless set; protected tags are never deleted."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    keep_untagged: int | None = None
    keep_prereleases: int | None = None
    older_than: timedelta | None = None
    protect: tuple[str, ...] = DEFAULT_PROTECT
    protect_pattern: tuple[str, ...] = (RELEASE_TAG_PATTERN,)
    only_untagged: bool = False

    @field_validator("keep_untagged", "keep_prereleases")
    @classmethod
    def _non_negative(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value < 0:
            raise InvalidInput(f"--{str(info.field_name).replace('_', '-')}", value, "is negative", "Use 0 or more.")
        return value

    @field_validator("protect")
    @classmethod
    def _valid_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            validate_tag(tag, what="--protect")
        return value

    @field_validator("protect_pattern")
    @classmethod
    def _valid_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern:
                raise InvalidInput("--protect-regex", pattern, "is empty and would protect nothing", "Give a regular expression.")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InvalidInput("--protect-regex", pattern, f"is not a valid regular expression ({exc})", "Fix the regex.") from None
        return value

    def protection(self, tag: str) -> str | None:
        """Why ``tag`` is protected, or ``None``."""
        if tag in self.protect:
            return f"protected tag {tag!r}"
        for pattern in self.protect_pattern:
            if re.fullmatch(pattern, tag):
                return f"protected by pattern {pattern!r}"
        return None

    def describe(self) -> list[str]:
        rules = []
        if self.only_untagged:
            rules.append("only untagged digests are considered")
        if self.keep_untagged is not None:
            rules.append(f"keep the newest {self.keep_untagged} untagged digests")
        if self.keep_prereleases is not None and not self.only_untagged:
            rules.append(f"keep the newest {self.keep_prereleases} pre-release tags")
        if self.older_than is not None and not self.only_untagged:
            rules.append(f"delete tags older than {format_age(self.older_than)}")
        protected = [*self.protect, *(f"/{p}/" for p in self.protect_pattern)]
        rules.append("protect " + ", ".join(protected) if protected else "protect no tag (default protection is off)")
        return rules


def format_age(delta: timedelta) -> str:
    if delta.seconds == 0 and delta.microseconds == 0:
        return f"{delta.days}d"
    return str(delta)


def policy_from_args(
    *,
    keep_untagged: int | None = None,
    keep_prereleases: int | None = None,
    older_than: str = "",
    protect: list[str] | None = None,
    protect_regex: list[str] | None = None,
    only_untagged: bool = False,
    default_protection: bool = True,
) -> RetentionPolicy:
    """The ``cleanup`` arguments (CLI and Dagger function alike) as a policy.

    Given protections add to the defaults (``latest``, ``stable``, release versions) unless
    ``default_protection`` is off.
    """
    if only_untagged:  # the tag rules would silently do nothing
        for name, value in (("--keep-prereleases", keep_prereleases), ("--older-than", older_than or None)):
            if value is not None:
                raise InvalidInput(name, value, "does nothing with --only-untagged (tags are never touched)", "Drop one of the two.")
    names = (*DEFAULT_PROTECT, *(protect or [])) if default_protection else tuple(protect or [])
    patterns = ((RELEASE_TAG_PATTERN,) if default_protection else ()) + tuple(protect_regex or [])
    return RetentionPolicy(
        keep_untagged=keep_untagged,
        keep_prereleases=keep_prereleases,
        older_than=parse_duration(older_than) if older_than else None,
        protect=tuple(dict.fromkeys(names)),
        protect_pattern=tuple(dict.fromkeys(patterns)),
        only_untagged=only_untagged,
    )
