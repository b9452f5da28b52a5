"""The build cache of a release: ``--cache-from`` / ``--cache-to`` in docker/build-push-action's
syntax, and the engine settings they become.

``type=registry,ref=ghcr.io/acme/app:buildcache,mode=max`` (a bare reference means
``type=registry``) is read here into a :class:`CacheEntry`. Dagger v0.19 takes the cache of a
session from the environment of the CLI that opens it (``engine/client/client.go``):
``_EXPERIMENTAL_DAGGER_CACHE_IMPORT_CONFIG`` and ``_EXPERIMENTAL_DAGGER_CACHE_EXPORT_CONFIG``,
entries ``type=…,key=value`` separated by ``;``. Those names live here only, so a later engine
that spells them differently is one change. ``gha`` is refused: it speaks GitHub's cache service
v1, shut down in April 2025. ``s3`` (and S3-compatible stores) is passed through unchecked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shipyard.errors import InvalidInput
from shipyard.values.refs import ImageRef, parse_reference

IMPORT_ENV = "_EXPERIMENTAL_DAGGER_CACHE_IMPORT_CONFIG"
EXPORT_ENV = "_EXPERIMENTAL_DAGGER_CACHE_EXPORT_CONFIG"
BOTH_ENV = "_EXPERIMENTAL_DAGGER_CACHE_CONFIG"
CACHE_ENVS = (IMPORT_ENV, EXPORT_ENV, BOTH_ENV)

IMPORT_TYPES = ("registry", "s3", "local")
EXPORT_TYPES = ("registry", "s3", "local")
_MODES = ("min", "max")
_KEY = re.compile(r"^[a-z][a-z0-9_-]*$")


class CacheDoor(StrEnum):
    """Who set the engine's cache for a release."""

    NONE = "none"  # no cache options: the engine's own state only
    CLI = "cli"  # the shipyard command's --cache-from/--cache-to, for its own sessions
    ENVIRONMENT = "environment"  # the shipyard command's own _EXPERIMENTAL_DAGGER_CACHE_* variables
    CALLER = "caller"  # module mode: the `dagger` CLI step's environment decides (invisible to the module)


@dataclass(frozen=True)
class CacheEntry:
    """One cache import or export: its type and its attributes (``ref``, ``mode``, …)."""

    type: str
    attrs: tuple[tuple[str, str], ...]

    @property
    def ref(self) -> ImageRef | None:
        """The registry reference of a ``type=registry`` entry (None for other types)."""
        value = dict(self.attrs).get("ref")
        if self.type != "registry" or not value:
            return None
        try:
            return parse_reference(value, what="cache ref")
        except InvalidInput:  # an entry from the environment, read without checks
            return None

    def engine_value(self) -> str:
        """The entry as the engine's environment variable takes it: ``type=registry,ref=…``."""
        return ",".join([f"type={self.type}", *(f"{k}={v.replace(';', chr(92) + ';')}" for k, v in self.attrs)])

    def with_tag_suffix(self, suffix: str) -> CacheEntry:
        """The same entry with ``-suffix`` appended to its registry tag (one cache per builder group)."""
        ref = self.ref
        if ref is None or not suffix:
            return self
        tagged = ref.with_tag(f"{ref.tag or 'latest'}-{suffix}"[:128])
        return CacheEntry(self.type, tuple((k, str(tagged) if k == "ref" else v) for k, v in self.attrs))

    def __str__(self) -> str:
        return self.engine_value()


def parse_cache_entry(text: str, *, what: str) -> CacheEntry:
    """One ``--cache-from``/``--cache-to`` value, as docker/build-push-action writes it."""
    exporting = what == "--cache-to"
    value = text.strip()
    if not value:
        raise InvalidInput(what, text, "is empty", "Write e.g. type=registry,ref=ghcr.io/acme/app:buildcache.")
    if "=" not in value:  # a bare reference, as build-push-action reads it
        value = f"type=registry,ref={value}"
    attrs: dict[str, str] = {}
    for part in value.split(","):
        key, sep, item = part.partition("=")
        key = key.strip().lower()
        if not sep or not _KEY.match(key):
            raise InvalidInput(
                what, text, f"has {part.strip()!r}, not KEY=VALUE", "Write e.g. type=registry,ref=ghcr.io/acme/app:buildcache,mode=max."
            )
        if key in attrs:
            raise InvalidInput(what, text, f"names {key}= twice", "Give each key once.")
        attrs[key] = item.strip()
    kind = attrs.pop("type", "registry")
    _check_type(kind, text, what=what, exporting=exporting)
    if kind == "registry":
        ref = attrs.get("ref", "")
        if not ref:
            raise InvalidInput(what, text, "has no ref=", "Name the cache image, e.g. ref=ghcr.io/acme/app:buildcache.")
        parsed = parse_reference(ref, what=f"{what} ref")
        if parsed.digest and exporting:
            raise InvalidInput(what, text, "exports to a digest", "Export to a tag, e.g. ref=ghcr.io/acme/app:buildcache.")
        attrs["ref"] = str(parsed if parsed.tag or parsed.digest else parsed.with_tag("buildcache"))
    if kind == "local" and not attrs.get("dest" if exporting else "src"):
        key = "dest" if exporting else "src"
        raise InvalidInput(what, text, f"has no {key}=", f"Name a directory the engine can write, e.g. {key}=/var/cache/buildcache.")
    mode = attrs.get("mode")
    if mode is not None:
        if not exporting:
            raise InvalidInput(what, text, "has mode=, which only an export takes", "Move mode= to --cache-to.")
        if mode not in _MODES:
            raise InvalidInput(what, text, f"has mode={mode}", "Use mode=min (the final image's steps) or mode=max (every stage's).")
    return CacheEntry(kind, tuple(sorted(attrs.items())))


def _check_type(kind: str, text: str, *, what: str, exporting: bool) -> None:
    if kind == "gha":
        raise InvalidInput(
            what,
            text,
            "uses type=gha, which speaks GitHub's cache service v1 (shut down in April 2025)",
            "Use a registry instead, e.g. type=registry,ref=ghcr.io/OWNER/APP:buildcache (see docs/build-cache.md).",
        )
    if kind == "inline":
        raise InvalidInput(
            what,
            text,
            "uses type=inline, but Shipyard assembles and pushes the images itself (no cache is inlined)",
            "Use type=registry,ref=… for a cache image beside the release.",
        )
    allowed = EXPORT_TYPES if exporting else IMPORT_TYPES
    if kind not in allowed:
        raise InvalidInput(what, text, f"has type={kind}", f"Use one of: {', '.join(allowed)}.")


@dataclass(frozen=True)
class CacheConfig:
    """The build cache of a release: where it comes from, where it goes, and who set it."""

    imports: tuple[CacheEntry, ...] = ()
    exports: tuple[CacheEntry, ...] = ()
    door: CacheDoor = CacheDoor.NONE
    secret_scoped: bool = False  # registry tags carry the build secrets' fingerprint

    @property
    def configured(self) -> bool:
        return bool(self.imports or self.exports)

    def registries(self) -> tuple[str, ...]:
        """The registries of every ``type=registry`` entry (credentials are looked up for them)."""
        return tuple(sorted({e.ref.registry for e in (*self.imports, *self.exports) if e.ref is not None}))

    def export_refs(self) -> tuple[ImageRef, ...]:
        """The registry references an export writes: the manifests checked after the session."""
        return tuple(e.ref for e in self.exports if e.ref is not None)

    def environment(self) -> dict[str, str]:
        """The engine client's variables for this cache (empty when there is none)."""
        env: dict[str, str] = {}
        if self.imports:
            env[IMPORT_ENV] = ";".join(e.engine_value() for e in self.imports)
        if self.exports:
            env[EXPORT_ENV] = ";".join(e.engine_value() for e in self.exports)
        return env

    def scoped_by_secrets(self, values: Sequence[str]) -> CacheConfig:
        """The cache with each registry tag scoped to the build secrets' values (``…-s<fingerprint>``).

        The engine's cache key of a ``RUN --mount=type=secret`` step names the secret, not its
        value, so a step that ran with one secret would be served to a build with another from an
        imported cache. Scoped, a build with other secrets finds no cache and runs its steps; the
        same secrets find theirs. The fingerprint is a slow, salted hash (:func:`secrets_fingerprint`),
        as Dagger itself derives public cache keys from secret values."""
        if not values:
            return self

        def scoped(entry: CacheEntry) -> CacheEntry:
            ref = entry.ref
            return entry.with_tag_suffix("s" + secrets_fingerprint(values, salt=ref.name)) if ref is not None else entry

        return CacheConfig(tuple(map(scoped, self.imports)), tuple(map(scoped, self.exports)), self.door, secret_scoped=True)

    def for_group(self, suffix: str) -> CacheConfig:
        """The cache of one builder's session: its own registry tags (``…:buildcache-linux-arm64``),
        so two sessions never overwrite each other's cache manifest."""
        return CacheConfig(
            imports=tuple(e.with_tag_suffix(suffix) for e in self.imports),
            exports=tuple(e.with_tag_suffix(suffix) for e in self.exports),
            door=self.door,
            secret_scoped=self.secret_scoped,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "door": self.door.value,
            "from": [str(e) for e in self.imports],
            "to": [str(e) for e in self.exports],
            "scoped_by_secrets": self.secret_scoped,
        }

    def describe(self) -> str:
        """One line for the plan and the report."""
        if self.door is CacheDoor.CALLER:
            return "set by the dagger CLI's environment (module mode: _EXPERIMENTAL_DAGGER_CACHE_*), not visible here"
        if not self.configured:
            return "none (the engine's own state only)"
        parts = []
        if self.imports:
            parts.append("from " + ", ".join(_short(e) for e in self.imports))
        if self.exports:
            parts.append("to " + ", ".join(_short(e) for e in self.exports))
        how = "the environment's _EXPERIMENTAL_DAGGER_CACHE_*" if self.door is CacheDoor.ENVIRONMENT else "--cache-from/--cache-to"
        scope = ", tags scoped to the build secrets" if self.secret_scoped else ""
        return "; ".join(parts) + f" (set by {how}{scope})"


def _short(entry: CacheEntry) -> str:
    ref = entry.ref
    if ref is not None:
        mode = dict(entry.attrs).get("mode")
        return f"{ref}" + (f" (mode={mode})" if mode else "")
    return entry.engine_value()


def cache_config(cache_from: Sequence[str], cache_to: Sequence[str], *, door: CacheDoor = CacheDoor.CLI) -> CacheConfig:
    """``--cache-from``/``--cache-to`` values (each repeatable) checked and read."""
    imports = tuple(parse_cache_entry(t, what="--cache-from") for t in cache_from)
    exports = tuple(parse_cache_entry(t, what="--cache-to") for t in cache_to)
    refs = [str(e.ref) for e in exports if e.ref is not None]
    duplicates = sorted({r for r in refs if refs.count(r) > 1})
    if duplicates:
        raise InvalidInput("--cache-to", duplicates[0], "is given twice", "Export each cache reference once.")
    if not imports and not exports:
        return CacheConfig(door=CacheDoor.NONE)
    return CacheConfig(imports=imports, exports=exports, door=door)


def secrets_fingerprint(values: Sequence[str], *, salt: str) -> str:
    """16 hex characters that change with any build secret's value: scrypt (about 50 ms, 16 MiB)
    salted with the cache's repository, so the public tag is no cheap test of a guessed secret."""
    material = b"\0".join(v.encode() for v in values)
    return hashlib.scrypt(material, salt=f"shipyard build cache {salt}".encode(), n=2**14, r=8, p=1, dklen=8).hex()


def group_suffix(platforms: Iterable[object]) -> str:
    """The tag suffix of a builder group's cache: its platforms, e.g. ``linux-arm64``."""
    return "_".join(str(p).replace("/", "-") for p in platforms)


def caller_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The engine cache variables already set in an environment (they would reach a session too)."""
    return {k: environ[k] for k in CACHE_ENVS if environ.get(k)}


def config_from_environment(environ: Mapping[str, str]) -> CacheConfig:
    """The cache a session gets from variables already in the environment (no options given):
    read as the engine reads them, without Shipyard's checks (the engine has the last word)."""
    found = caller_environment(environ)
    if not found:
        return CacheConfig()

    def entries(name: str) -> tuple[CacheEntry, ...]:
        out = []
        for item in re.split(r"(?<!\\);", found.get(name, "")):
            attrs = dict(part.partition("=")[::2] for part in item.split(",") if "=" in part)
            kind = attrs.pop("type", "")
            if kind:
                out.append(CacheEntry(kind, tuple(sorted(attrs.items()))))
        return tuple(out)

    both = entries(BOTH_ENV)
    return CacheConfig(imports=entries(IMPORT_ENV) + both, exports=entries(EXPORT_ENV) + both, door=CacheDoor.ENVIRONMENT)


@dataclass(frozen=True)
class ExportOutcome:
    """Whether a ``--cache-to`` registry reference got the session's cache: its manifest digest
    before the session and after it closed (the engine exports then, and only logs a failure)."""

    ref: str
    before: str | None
    after: str | None
    error: str | None = None  # the registry could not be read after the session

    @property
    def status(self) -> str:
        if self.error is not None:
            return "unknown"
        if self.after is None:
            return "missing"
        return "exported" if self.after != self.before else "unchanged"

    @property
    def ok(self) -> bool:
        return self.status == "exported"

    def message(self) -> str:
        if self.status == "exported":
            return f"exported to {self.ref} ({self.after})"
        if self.status == "unchanged":
            return (
                f"WARNING: the cache manifest at {self.ref} did not change ({self.after}): nothing new was exported, "
                "or the export failed (the engine only logs export errors)"
            )
        if self.status == "missing":
            return (
                f"WARNING: not exported: {self.ref} has no cache manifest after the release (the registry refused the push, "
                "needs credentials (--registry-auth), or the engine cannot reach it; the engine logs the error). "
                "The release itself is not affected"
            )
        return f"WARNING: could not check the export to {self.ref}: {self.error}"

    def to_dict(self) -> dict[str, str | None]:
        return {"ref": self.ref, "status": self.status, "before": self.before, "after": self.after, "message": self.message()}


def export_outcomes(before: Mapping[str, str | None], after: Mapping[str, str | Exception | None]) -> tuple[ExportOutcome, ...]:
    """Compare each export reference's manifest digest before and after the session."""
    out = []
    for ref in sorted(after):
        value = after[ref]
        if isinstance(value, Exception):
            out.append(ExportOutcome(ref, before.get(ref), None, error=str(value)))
        else:
            out.append(ExportOutcome(ref, before.get(ref), value))
    return tuple(out)


def cache_summary(config: CacheConfig, outcomes: Sequence[ExportOutcome] = (), export_seconds: float | None = None) -> dict[str, object]:
    """The report's ``cache`` section: who configured it, from/to, and what the export check saw."""
    out: dict[str, object] = {**config.to_dict(), "configured": config.configured or config.door is CacheDoor.CALLER}
    out["description"] = config.describe()
    out["exports"] = [o.to_dict() for o in outcomes]
    out["warnings"] = [o.message() for o in outcomes if not o.ok]
    if export_seconds is not None:
        out["export_seconds"] = round(export_seconds, 3)
    return out


def cache_lines(summary: Mapping[str, object] | None) -> list[str]:
    """The report's text lines for its ``cache`` section."""
    if not summary:
        return []
    lines = [f"  cache:     {summary['description']}"]
    exports = summary.get("exports") or []
    assert isinstance(exports, list)
    lines.extend(f"  cache:     {e['message']}" for e in exports)
    return lines
