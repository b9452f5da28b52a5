"""Version strings as metadata-action reads them: strict SemVer (``type=semver``) and PEP 440 (``type=pep440``).

SemVer follows node-semver's ``valid()``: an optional leading ``v``, no other prefix, numbers of
at most 2^53-1, at most 256 characters. PEP 440 uses ``packaging`` (the reference parser); the
fields a pattern can use mirror the ones metadata-action offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import semver
from packaging.version import InvalidVersion
from packaging.version import Version as Pep440Version

_MAX_LENGTH = 256
_MAX_SAFE_INTEGER = 2**53 - 1


def parse_semver(text: str) -> semver.Version | None:
    """Strict semver with an optional leading ``v``; ``None`` when it is not one."""
    if len(text) > _MAX_LENGTH:
        return None
    candidate = text[1:] if text.startswith("v") else text
    try:
        version = semver.Version.parse(candidate)
    except ValueError:
        return None
    if max(version.major, version.minor, version.patch) > _MAX_SAFE_INTEGER:
        return None
    return version


@dataclass(frozen=True)
class SemverFields:
    """What a ``type=semver`` pattern can use: ``{{version}}``, ``{{major}}``, ... and ``{{raw}}`` (the input)."""

    raw: str
    version: semver.Version

    @property
    def is_prerelease(self) -> bool:
        return bool(self.version.prerelease)

    def fields(self) -> dict[str, str]:
        v = self.version
        core = f"{v.major}.{v.minor}.{v.patch}"
        return {
            "raw": self.raw,
            "version": core + (f"-{v.prerelease}" if v.prerelease else ""),
            "major": str(v.major),
            "minor": str(v.minor),
            "patch": str(v.patch),
            # node-semver keeps these as lists; a template prints a list joined with commas.
            "prerelease": ",".join((v.prerelease or "").split(".")) if v.prerelease else "",
            "build": ",".join((v.build or "").split(".")) if v.build else "",
        }


def semver_fields(raw: str) -> SemverFields | None:
    version = parse_semver(raw)
    return None if version is None else SemverFields(raw, version)


@dataclass(frozen=True)
class Pep440Fields:
    """What a ``type=pep440`` pattern can use; ``version`` is the normalised form (``1.1beta2`` -> ``1.1b2``)."""

    raw: str
    version: Pep440Version

    @property
    def is_prerelease(self) -> bool:
        """Pre-, post- and dev-releases all count: none of them moves ``latest`` or gets a short alias."""
        v = self.version
        return v.is_prerelease or v.is_postrelease or v.is_devrelease

    @property
    def normalized(self) -> str:
        v = self.version
        # metadata-action prints the local segment's parts joined with commas (1.0+abc.5 -> 1.0+abc,5).
        return v.public + (f"+{v.local.replace('.', ',')}" if v.local else "")

    def fields(self) -> dict[str, str]:
        release = self.version.release
        return {
            "raw": self.raw,
            "version": self.normalized,
            "major": str(release[0]),
            "minor": str(release[1] if len(release) > 1 else 0),
            "patch": str(release[2] if len(release) > 2 else 0),
        }


def pep440_fields(raw: str) -> Pep440Fields | None:
    """Parse a PEP 440 version (a leading ``v`` is allowed, surrounding blanks are not)."""
    if raw != raw.strip() or not raw:
        return None
    try:
        return Pep440Fields(raw, Pep440Version(raw))
    except InvalidVersion:
        return None
