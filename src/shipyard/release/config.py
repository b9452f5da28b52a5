"""Configuration models: publishing targets, tool images, signing, SBOM and scan policy.

Frozen pydantic models at the boundary; every validation error names the input and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

from shipyard.errors import InvalidInput
from shipyard.values.refs import ImageRef, parse_reference, parse_repository
from shipyard.values.refs import is_loopback_registry as is_loopback_registry  # where it lived before #25

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SigningMode(StrEnum):
    """How releases are signed with cosign: not at all, with a key pair, or keyless (OIDC);
    ``auto`` (publish's default) signs with the key when one is given, else not at all."""

    AUTO = "auto"
    NONE = "none"
    KEY = "key"
    KEYLESS = "keyless"

    def resolve(self, *, has_key: bool) -> SigningMode:
        """``auto`` decided: key mode when a cosign key is given, else none; other modes stay."""
        if self is SigningMode.AUTO:
            return SigningMode.KEY if has_key else SigningMode.NONE
        return self


class SbomFormat(StrEnum):
    """SBOM document formats syft writes and cosign attaches."""

    SPDX_JSON = "spdx-json"
    CYCLONEDX_JSON = "cyclonedx-json"

    @property
    def attestation_type(self) -> str:
        """The ``cosign attest --type`` for this format."""
        return {"spdx-json": "spdxjson", "cyclonedx-json": "cyclonedx"}[self.value]


# publish's defaults, as the seed workflows ran them: an SPDX SBOM per platform, SLSA provenance,
# and the Trivy gate on CRITICAL,HIGH. Each is switched off with --no-sbom, --no-provenance, --no-scan.
DEFAULT_SBOM_FORMATS: tuple[SbomFormat, ...] = (SbomFormat.SPDX_JSON,)
DEFAULT_SCAN_FAIL_ON = "CRITICAL,HIGH"


def sbom_formats_from_args(formats: list[SbomFormat] | None, *, off: bool) -> tuple[SbomFormat, ...]:
    """``--sbom`` formats (default: SPDX JSON), or none with ``--no-sbom``."""
    if off and formats:
        raise InvalidInput("--no-sbom", [f.value for f in formats], "contradicts --sbom", "Give either --sbom FORMAT or --no-sbom.")
    return () if off else tuple(formats or DEFAULT_SBOM_FORMATS)


def provenance_from_args(asked: bool, *, off: bool) -> bool:
    """Provenance is on unless ``--no-provenance``; ``--provenance`` (the default) is still accepted."""
    if asked and off:
        raise InvalidInput("--no-provenance", True, "contradicts --provenance", "Give one of them (provenance is on by default).")
    return not off


class Severity(StrEnum):
    """Trivy vulnerability severities."""

    UNKNOWN = "UNKNOWN"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


_API_URL = re.compile(r"(https?)://([^/?#@\s]+?)(?::([0-9]+))?(/[^?#\s]*)?")
_API_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


def parse_api_url(text: str, *, what: str = "--api-url") -> str:
    """An API base address (``https://api.github.com``, ``http://127.0.0.1:8080``), without a trailing ``/``."""
    match = _API_URL.fullmatch(text.strip())
    if not match or not _API_HOST.fullmatch(match.group(2)):
        raise InvalidInput(what, text, "is not an http(s) URL", "Give the API's base address, e.g. https://api.github.com.")
    if match.group(3) is not None and not 0 < int(match.group(3)) <= 65535:
        raise InvalidInput(what, text, f"port {match.group(3)} is out of range", "Ports are 1-65535.")
    return text.strip().rstrip("/")


class Target(BaseModel):
    """A repository to publish to; ``optional`` targets without credentials are skipped."""

    model_config = _FROZEN
    repository: str
    optional: bool = False
    written_as: str | None = None  # the name as given, when it had upper case (lowercased, with a notice)

    @field_validator("repository")
    @classmethod
    def _valid_repository(cls, value: str) -> str:
        return str(parse_repository(value, what="--image"))

    @property
    def ref(self) -> ImageRef:
        return parse_reference(self.repository)

    @property
    def registry(self) -> str:
        return self.ref.registry

    @classmethod
    def parse(cls, text: str) -> Target:
        """``REPOSITORY[,optional]`` or ``REPOSITORY,optional=true`` (the ``--target`` syntax)."""
        repo, *options = [part.strip() for part in text.split(",")]
        optional = False
        for option in options:
            key, _, value = option.partition("=")
            if key != "optional" or value not in ("", "true", "false"):
                raise InvalidInput(
                    "--image", text, f"has unknown option {option!r}", "Only ',optional' (or optional=true|false) is accepted."
                )
            optional = value in ("", "true")
        # Lower case, as docker/metadata-action lowercases image names: workflows write
        # ghcr.io/${{ github.repository }}, whose owner often has upper case; a registry would
        # refuse the name, and no registry holds two repositories that differ only in case.
        lowered = repo.lower()
        try:
            repository = str(parse_repository(lowered, what="--image"))
        except InvalidInput as exc:  # named as the user wrote it
            raise InvalidInput(exc.name, repo, exc.problem, exc.fix) from None
        return cls(repository=repository, optional=optional, written_as=repo if lowered != repo else None)

    def lowercase_notice(self) -> str | None:
        """What the release says when the name was given with upper case."""
        return lowercase_notice(self.written_as, self.repository) if self.written_as is not None else None

    @classmethod
    def parse_all(cls, items: Iterable[str]) -> list[Target]:
        """Every ``--target``; an option that ``dagger call`` split off at the comma (it reads list
        flags as CSV: ``app,optional`` arrives as ``app`` and ``optional``) rejoins its repository."""
        joined: list[str] = []
        for item in items:
            if joined and TARGET_OPTION.fullmatch(item.strip()):
                joined[-1] += "," + item.strip()
            else:
                joined.append(item)
        return [cls.parse(text) for text in joined]


TARGET_OPTION = re.compile(r"optional(=\w*)?")


def lowercase_notice(written_as: str, repository: str) -> str:
    """What a release says of a ``--target`` given with upper case, which it lowercased."""
    return f"--image {written_as!r} is published as {repository!r} (repository names are lower case)"


class ToolImages(BaseModel):
    """Where each tool container comes from; replace the whole set for mirrors or air-gapped use."""

    model_config = _FROZEN
    cosign: str = "ghcr.io/sigstore/cosign/cosign:v2.6.5"
    syft: str = "docker.io/anchore/syft:v1.57.0"
    trivy: str = "docker.io/aquasec/trivy:0.70.0"
    crane: str = "gcr.io/go-containerregistry/crane:v0.22.1"
    registry: str = "docker.io/library/registry:2.8.3"  # the zero-config ephemeral registry
    golang: str = "docker.io/library/golang:1.26"  # builds the smoke test's supervisor (static, for each platform)
    trivy_db: str = ""  # an image holding /db/trivy.db + metadata.json: scan offline (empty: Trivy downloads its DB)

    @field_validator("trivy_db")
    @classmethod
    def _valid_optional_ref(cls, value: str) -> str:
        return cls._valid_ref(value) if value else value

    @field_validator("cosign", "syft", "trivy", "crane", "registry", "golang")
    @classmethod
    def _valid_ref(cls, value: str) -> str:
        ref = parse_reference(value, what="tool image")
        if not ref.tag and not ref.digest:
            raise InvalidInput("tool image", value, "is not pinned", "Give a version tag or, better, a digest (@sha256:...).")
        return str(ref)


class ScanPolicy(BaseModel):
    """Which vulnerability severities fail a release, and which findings are accepted."""

    model_config = _FROZEN
    fail_on: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH)
    ignore: tuple[str, ...] = ()

    @classmethod
    def from_strings(cls, fail_on: str = "CRITICAL,HIGH", ignore: list[str] | None = None, *, what: str = "--scan-fail-on") -> ScanPolicy:
        """``CRITICAL,HIGH`` -> a policy; a list that names no severity is an error, not a gate that never fails."""
        severities: list[Severity] = []
        for part in filter(None, (p.strip().upper() for p in fail_on.split(","))):
            try:
                severities.append(Severity(part))
            except ValueError:
                raise InvalidInput(
                    what, fail_on, f"{part!r} is not a Trivy severity", "Use CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN, comma-separated."
                ) from None
        if not severities:
            raise InvalidInput(
                what, fail_on, "names no severity, so the scan gate would fail on nothing", "Use e.g. CRITICAL,HIGH, or leave it out."
            )
        return cls(fail_on=tuple(dict.fromkeys(severities)), ignore=tuple(parse_ignore_list("\n".join(ignore or []))))


def scan_policy_from_args(fail_on: str, ignore: list[str] | None = None, *, off: bool = False) -> ScanPolicy | None:
    """The scan gate (default CRITICAL,HIGH), or none with ``--no-scan`` (or an empty ``--scan-fail-on``)."""
    if off or not fail_on.strip():
        return None
    return ScanPolicy.from_strings(fail_on, ignore)


_VULN_ID = re.compile(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9:._-]*")


def parse_ignore_list(text: str) -> list[str]:
    """Parse ``.trivyignore`` text: one finding id a line, ``#`` comments, blank lines skipped."""
    ids: list[str] = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip().split()
        if not entry:
            continue
        if not _VULN_ID.fullmatch(entry[0]):
            raise InvalidInput("ignore entry", line.strip(), "is not a vulnerability id", "Write one id a line, e.g. CVE-2024-1234.")
        ids.append(entry[0])
    return list(dict.fromkeys(ids))


class SmokeTest(BaseModel):
    """The smoke test's flags: a Compose file and service (``--smoke-compose``/``--smoke-service``;
    by default the source's compose file when a service of it builds this image), or an HTTP check
    (``--smoke-port``/``--smoke-path``), on ``platforms`` (all, native, none or a list)."""

    model_config = _FROZEN
    port: int | None = None
    path: str = "/"
    cmd: tuple[str, ...] = ()
    timeout: int | None = None  # None: 60 s native, 180 s under QEMU
    compose: str = ""
    service: str = ""
    platforms: str = "all"

    @field_validator("port")
    @classmethod
    def _valid_port(cls, value: int | None) -> int | None:
        if value is not None and not 0 < value <= 65535:
            raise InvalidInput("--smoke-port", value, "is not a TCP port", "Give the port the image listens on, 1-65535, e.g. 8080.")
        return value

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise InvalidInput("--smoke-path", value, "is not an absolute URL path", "Write e.g. /health or /healthz?ready=1.")
        return value

    @field_validator("timeout")
    @classmethod
    def _valid_timeout(cls, value: int | None) -> int | None:
        if value is not None and not 0 < value <= 3600:
            raise InvalidInput(
                "--smoke-timeout",
                value,
                "is not between 1 and 3600 seconds",
                "Give the seconds the app may take to become healthy, e.g. 60.",
            )
        return value

    @field_validator("compose")
    @classmethod
    def _valid_compose(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise InvalidInput("--smoke-compose", value, "is not a path inside the source", "Give it relative to --source.")
        return value

    @classmethod
    def from_args(
        cls,
        port: int | None,
        path: str = "/",
        cmd: list[str] | None = None,
        timeout: int | None = None,
        compose: str = "",
        service: str = "",
        platforms: str = "all",
    ) -> SmokeTest:
        """The smoke test the flags ask for; whether it runs is decided with the source (its compose file)."""
        if port is None and path != "/":
            raise InvalidInput("--smoke-path", path, "is given without --smoke-port", "Add --smoke-port PORT for the HTTP check.")
        return cls(
            port=port,
            path=path or "/",
            cmd=tuple(cmd or ()),
            timeout=timeout,
            compose=compose.strip(),
            service=service.strip(),
            platforms=platforms,
        )
