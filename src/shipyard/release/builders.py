"""Which engine builds which platform: ``--builder PLATFORM=ENGINE_ADDRESS`` (repeatable).

A platform with a builder is built on that engine (a native arm64 machine, a remote engine);
every other platform on the default engine. The builders only build: each exports its images
and the release is assembled, pushed, signed and tagged from the default session, exactly as a
one-engine release, so the index digest is the same. Several platforms may share one builder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shipyard.errors import InvalidInput
from shipyard.values.platforms import Platform, parse_platform

# The schemes the Dagger CLI (v0.19) takes in _EXPERIMENTAL_DAGGER_RUNNER_HOST.
ENGINE_SCHEMES: tuple[str, ...] = (
    "unix",
    "tcp",
    "ssh",
    "kube-pod",
    "docker-container",
    "docker-image",
    "container",
    "image",
    "container+docker",
    "image+docker",
    "container+podman",
    "image+podman",
    "container+nerdctl",
    "image+nerdctl",
    "container+finch",
    "image+finch",
    "container+apple",
    "image+apple",
    "dagger-cloud",
)
_FLAG = "--builder"
_EXAMPLE = "Write PLATFORM=ENGINE_ADDRESS, e.g. --builder linux/arm64=ssh://builder@arm64-host or tcp://10.0.0.5:1234."


@dataclass(frozen=True)
class Builder:
    """An engine, other than the default one, and the platforms it builds."""

    address: str
    platforms: tuple[Platform, ...]

    def describe(self) -> str:
        return f"{', '.join(map(str, self.platforms))} on {self.address}"


def parse_builders(values: Iterable[str], platforms: Sequence[Platform]) -> tuple[Builder, ...]:
    """Parse ``--builder`` values against the release's platforms; one :class:`Builder` per
    address (in first-seen order), its platforms in the release's order."""
    chosen: dict[Platform, str] = {}
    for value in values:
        platform, address = _parse_one(value)
        if platform not in platforms:
            raise InvalidInput(
                _FLAG,
                value,
                f"{platform} is not one of the release's platforms ({', '.join(map(str, platforms))})",
                f"Add it with --platform, or drop this {_FLAG}.",
            )
        if platform in chosen and chosen[platform] != address:
            raise InvalidInput(
                _FLAG,
                value,
                f"{platform} already has the builder {chosen[platform]}",
                "Give each platform one builder (several platforms may share one).",
            )
        chosen[platform] = address
    addresses = list(dict.fromkeys(chosen.values()))
    return tuple(Builder(a, tuple(p for p in platforms if chosen.get(p) == a)) for a in addresses)


def _parse_one(value: str) -> tuple[Platform, str]:
    name, sep, address = value.partition("=")
    if not sep or not name.strip() or not address.strip():
        raise InvalidInput(_FLAG, value, "is not PLATFORM=ENGINE_ADDRESS", _EXAMPLE)
    try:
        platform = parse_platform(name)
    except InvalidInput as exc:
        raise InvalidInput(_FLAG, value, f"platform {exc.problem}", exc.fix) from None
    address = address.strip()
    scheme, sep, rest = address.partition("://")
    if not sep or not rest.strip("/"):
        raise InvalidInput(_FLAG, value, f"engine address {address!r} has no scheme://location", _EXAMPLE)
    if scheme not in ENGINE_SCHEMES:
        raise InvalidInput(
            _FLAG,
            value,
            f"engine address scheme {scheme!r} is not one the Dagger CLI connects to",
            f"Use one of {', '.join(ENGINE_SCHEMES[:5])} (as _EXPERIMENTAL_DAGGER_RUNNER_HOST takes them).",
        )
    return platform, address


def grouped(builders: Mapping[str, str]) -> tuple[Builder, ...]:
    """The plan's platform -> address (``ReleasePlan.builders``) as one :class:`Builder` per address."""
    addresses = list(dict.fromkeys(builders.values()))
    return tuple(Builder(a, tuple(parse_platform(p) for p, b in builders.items() if b == a)) for a in addresses)


def default_platforms(platforms: Sequence[Platform], builders: Sequence[Builder]) -> tuple[Platform, ...]:
    """The platforms the default engine builds: those without a builder."""
    elsewhere = {p for b in builders for p in b.platforms}
    return tuple(p for p in platforms if p not in elsewhere)
