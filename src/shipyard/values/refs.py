"""Image references: ``[registry[:port]/]repository[:tag][@digest]``, parsed and normalised.

Follows the distribution reference grammar: Docker Hub is the default registry, single
names on Docker Hub live under ``library/``, repositories are lower case, tags are at most
128 characters of ``[A-Za-z0-9_.-]`` not starting with ``.`` or ``-``, and digests must use a
known algorithm with the right length of hex.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from shipyard.errors import InvalidInput

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
DOCKER_HUB_API = "registry-1.docker.io"  # where Docker Hub serves the registry API (docker.io does not)
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"  # how Docker config files name Docker Hub


def api_host(registry: str) -> str:
    """The host that serves a registry's API: ``registry-1.docker.io`` for Docker Hub under any
    of its names, the registry itself otherwise."""
    return DOCKER_HUB_API if registry in _HUB_ALIASES else registry


def is_loopback_registry(registry: str) -> bool:
    """Loopback registries (a local test or mirror registry): plain HTTP, no credentials needed."""
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Registry:
    """A registry as references name it (``ghcr.io``, ``127.0.0.1:5000``, ``docker.io``) and how
    it is spoken to: the scheme is decided here, once (go-containerregistry's ``name.Registry``).

    ``insecure``: plain HTTP; ``None`` (the default) means loopback registries only, as Docker and
    the Dagger engine treat them."""

    name: str
    insecure: bool | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback_registry(self.name)

    @property
    def plain_http(self) -> bool:
        return self.loopback if self.insecure is None else self.insecure

    @property
    def scheme(self) -> str:
        return "http" if self.plain_http else "https"

    @property
    def api_host(self) -> str:
        """Where its API is served: ``registry-1.docker.io`` for Docker Hub, itself otherwise."""
        return api_host(self.name)

    @property
    def port(self) -> int | None:
        """The port written in its name, if any (``127.0.0.1:5000`` -> 5000)."""
        match = re.search(r":([0-9]+)$", self.name)
        return int(match.group(1)) if match else None

    @property
    def hostname(self) -> str:
        """Its name without the port (``registry-5000:5000`` -> ``registry-5000``)."""
        return self.name.removesuffix(f":{self.port}") if self.port is not None else self.name

    def base_url(self, address: str | None = None) -> str:
        """``scheme://host`` of its API; ``address``: where this process reaches it when that differs."""
        return f"{self.scheme}://{address or self.api_host}"

    def __str__(self) -> str:
        return self.name


_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_ALGORITHMS = {"sha256": 64, "sha512": 128}
_MAX_NAME = 255


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference; ``str()`` round-trips through :func:`parse_reference`."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def domain(self) -> Registry:
        """The registry it lives in, as a value that knows its scheme."""
        return Registry(self.registry)

    @property
    def familiar(self) -> str:
        """The short form people type: ``nginx:1.25`` rather than ``docker.io/library/nginx:1.25``."""
        text = str(self)
        if self.registry != DOCKER_HUB:
            return text
        short = text.removeprefix(f"{DOCKER_HUB}/").removeprefix("library/")
        # Keep the registry when the short form would read as one (e.g. docker.io/0.0/app).
        return short if _split_registry(short)[0] == DOCKER_HUB else text

    def with_tag(self, tag: str) -> ImageRef:
        return replace(self, tag=validate_tag(tag), digest=None)

    def with_digest(self, digest: str) -> ImageRef:
        return replace(self, tag=None, digest=validate_digest(digest))

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def split_namespace(repository: str) -> tuple[str, str]:
    """A repository path's first component and the rest: a Docker Hub namespace and its
    repository, a GitHub owner and its package (``acme/app/web`` -> ``("acme", "app/web")``)."""
    namespace, _, rest = repository.partition("/")
    return namespace, rest


def validate_tag(tag: str, *, what: str = "image tag") -> str:
    """An OCI tag: 1-128 characters of ``[A-Za-z0-9_.-]``, not starting with ``.`` or ``-``."""
    if not TAG_PATTERN.fullmatch(tag):
        raise InvalidInput(what, tag, tag_problem(tag), "Tags are 1-128 characters of letters, digits, '_', '.' and '-'.")
    return tag


def tag_problem(tag: str) -> str:
    """Why ``tag`` is not an OCI tag, in words."""
    if not tag:
        return "is empty"
    if len(tag) > 128:
        return f"is {len(tag)} characters long, registries accept at most 128"
    if tag[0] in ".-":
        return f"starts with {tag[0]!r}, which registries refuse"
    bad = sorted({c for c in tag if not re.fullmatch(r"[A-Za-z0-9_.-]", c)})
    return "contains " + ", ".join(repr(c) for c in bad) + ", which registries refuse in a tag"


def validate_digest(digest: str) -> str:
    algorithm, sep, hexpart = digest.partition(":")
    if not sep:
        raise InvalidInput("digest", digest, "has no algorithm", "Write it as sha256:<64 hex characters>.")
    size = _DIGEST_ALGORITHMS.get(algorithm)
    if size is None:
        raise InvalidInput(
            "digest",
            digest,
            f"uses unsupported algorithm {algorithm!r}",
            "Use sha256 (or sha512).",
        )
    if len(hexpart) != size or not re.fullmatch(r"[0-9a-f]+", hexpart):
        raise InvalidInput(
            "digest",
            digest,
            f"is not {size} lower-case hex characters after '{algorithm}:'",
            "Copy the digest exactly as the registry printed it.",
        )
    return digest


@dataclass(frozen=True)
class Digest:
    """A content digest, ``algorithm:hex``; ``str()`` round-trips through :meth:`parse`."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, _, hexpart = validate_digest(text).partition(":")
        return cls(algorithm, hexpart)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def parse_reference(text: str, *, what: str = "image reference") -> ImageRef:
    """Parse and normalise an image reference, raising :class:`InvalidInput` on any violation."""
    raw = text.strip()
    if not raw:
        raise InvalidInput(what, text, "is empty", "Write it as [registry/]repository[:tag][@digest].")
    rest, at, digest = raw.partition("@")
    if at:
        try:
            validate_digest(digest)
        except InvalidInput as exc:
            raise InvalidInput(what, text, f"has a bad digest: {exc.problem}", exc.fix) from None
    registry, remainder = _split_registry(rest, what=what, whole=text)
    repository, tag = remainder, None
    slash, colon = remainder.rfind("/"), remainder.rfind(":")
    if colon > slash:
        repository, tag = remainder[:colon], remainder[colon + 1 :]
    if not repository:
        raise InvalidInput(what, text, "has no repository", "Write it as [registry/]repository[:tag].")
    if repository != repository.lower():
        raise InvalidInput(
            what,
            text,
            "has upper-case letters in the repository",
            f"Repository names must be lower case: use {repository.lower()!r}.",
        )
    for component in repository.split("/"):
        if not component:
            raise InvalidInput(what, text, "has an empty path component ('//' or a '/' at an end)", "Remove the extra '/'.")
        if not _PATH_COMPONENT.fullmatch(component):
            raise InvalidInput(
                what,
                text,
                f"has an invalid repository component {component!r}",
                "Components are lower-case letters and digits, joined by '.', '_', '__' or '-'.",
            )
    if tag is not None and not TAG_PATTERN.fullmatch(tag):
        problem = "ends with ':' but no tag" if not tag else f"has an invalid tag {tag!r}: {tag_problem(tag)}"
        raise InvalidInput(what, text, problem, "Tags are 1-128 characters of letters, digits, '_', '.' and '-'.")
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if len(registry) + 1 + len(repository) > _MAX_NAME:
        raise InvalidInput(what, text, "is longer than 255 characters", "Use a shorter repository name.")
    return ImageRef(registry, repository, tag, digest if at else None)


def parse_repository(text: str, *, what: str = "repository") -> ImageRef:
    """Parse a reference that must name a repository only (a publishing target)."""
    ref = parse_reference(text, what=what)
    if ref.tag or ref.digest:
        raise InvalidInput(
            what,
            text,
            "carries a tag or digest",
            f"Give the repository only ({ref.name}); Shipyard computes the tags.",
        )
    return ref


def parse_registry(text: str, *, what: str = "registry") -> str:
    """A registry address, ``host[:port]``, normalised as references normalise it (``docker.io``)."""
    host = text.strip()
    if not host or "/" in host:
        raise InvalidInput(what, text, "is not a registry address", "Give the host only, e.g. ghcr.io, docker.io or localhost:5000.")
    registry, _ = _split_registry(f"{host}/x", what=what, whole=text, force=True)
    return registry


def _split_registry(text: str, *, what: str = "registry", whole: str | None = None, force: bool = False) -> tuple[str, str]:
    """``(registry, rest)``; errors name ``what`` and show ``whole`` (the input as given)."""
    first, slash, rest = text.partition("/")
    is_registry = slash and (force or any(c in first for c in ".:") or first == "localhost" or first.lower() != first)
    if not is_registry:
        return DOCKER_HUB, text
    shown_text = text if whole is None else whole
    if not _HOST.fullmatch(first):
        raise InvalidInput(
            what,
            shown_text,
            f"registry {first!r} is not a valid host[:port]",
            "Use a host name or IP address, optionally with a port (e.g. ghcr.io, localhost:5000).",
        )
    port = Registry(first).port
    if port is not None and not 0 < port <= 65535:
        raise InvalidInput(what, shown_text, f"port {port} is out of range", "Ports are 1-65535 (e.g. localhost:5000).")
    host = first.lower()
    return (DOCKER_HUB if host in _HUB_ALIASES else host), rest
