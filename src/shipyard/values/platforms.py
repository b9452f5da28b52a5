"""Target platforms: parse ``os/arch[/variant]``, normalise aliases, keep a stable order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shipyard.errors import InvalidInput

# Architecture spellings users write (uname -m, Debian, Docker) -> (OCI architecture, variant).
_ARCH_ALIASES: dict[str, tuple[str, str]] = {
    "amd64": ("amd64", ""),
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "arm64": ("arm64", ""),
    "aarch64": ("arm64", ""),
    "arm64/v8": ("arm64", ""),
    "aarch64/v8": ("arm64", ""),
    "arm": ("arm", "v7"),
    "arm/v7": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armv7l": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "arm/v6": ("arm", "v6"),
    "armv6": ("arm", "v6"),
    "armv6l": ("arm", "v6"),
    "armel": ("arm", "v6"),
    "386": ("386", ""),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}

KNOWN_PLATFORMS: tuple[str, ...] = (
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
)

DEFAULT_PLATFORMS: tuple[str, ...] = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True, order=True)
class Platform:
    """An OCI platform; ``str()`` gives the canonical ``os/arch[/variant]`` form."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


def parse_platform(text: str) -> Platform:
    """Parse one platform; a bare architecture means Linux (``arm64`` -> ``linux/arm64``)."""
    raw = text.strip().lower()
    if not raw:
        raise InvalidInput("--platform", text, "is empty", "Write it as os/arch[/variant], e.g. linux/arm64.")
    os_name, _, arch = raw.partition("/")
    if not arch:
        os_name, arch = "linux", raw
    if os_name != "linux":
        raise InvalidInput(
            "--platform",
            text,
            f"operating system {os_name!r} is not supported",
            "Shipyard builds Linux images; use linux/<arch>.",
        )
    found = _ARCH_ALIASES.get(arch)
    if found is None:
        raise InvalidInput(
            "--platform",
            text,
            "is not a known platform",
            "Use one of: " + ", ".join(KNOWN_PLATFORMS) + ".",
        )
    return Platform("linux", *found)


def parse_platforms(texts: Iterable[str]) -> tuple[Platform, ...]:
    """Parse a list (items may also be comma-separated); drop duplicates, keep first-seen order."""
    seen: dict[Platform, None] = {}
    for item in texts:
        for piece in item.split(","):
            if piece.strip():
                seen.setdefault(parse_platform(piece), None)
    if not seen:
        raise InvalidInput("--platform", list(texts), "names no platform", "Give at least one, e.g. linux/amd64.")
    return tuple(seen)
