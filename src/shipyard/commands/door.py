"""What differs between the two doors (:class:`Door`), and the small conversions every command shares."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagger
from dagger import dag

from shipyard.errors import InvalidInput
from shipyard.release.cache import CacheConfig, CacheDoor
from shipyard.release.config import (
    ToolImages,
)
from shipyard.reports.events import SILENT, Progress
from shipyard.secrets import Credentials, SecretValue
from shipyard.source import SourceInfo, SourceTree
from shipyard.steps.tools import (
    RegistryEndpoint,
)
from shipyard.tagging.labels import parse_epoch

TOOL_IMAGES_ENV = "SHIPYARD_TOOL_IMAGES"
TRIVYIGNORE = ".trivyignore"  # read from the source when no --trivyignore is given

SecretInput = dagger.Secret | SecretValue


def engine_secret(name: str, value: SecretInput) -> dagger.Secret:
    """A secret as the engine takes it (inside a session): a Secret as is, a local value set as one."""
    return value if isinstance(value, dagger.Secret) else dag.set_secret(name, value.reveal())


def _direct(registry: str) -> RegistryEndpoint:
    return RegistryEndpoint(registry=registry, host=registry)


@dataclass(frozen=True)
class Door:
    """What differs between ``dagger call`` and ``shipyard``: everything else is the command's.

    ``credentials``: registry -> credentials (``with-registry-auth`` / ``--registry-auth``).
    ``declared_registries``: registries the caller says will have credentials, unread (``shipyard
    plan --registry-credentials``: a dry run on a machine without the tokens).
    ``endpoint``: how a registry is reached (module: Services; CLI: the host's loopback).
    ``workdir``: scratch space of an engine command. ``out``: where a release's files go.
    ``tunnel``: reach services in the engine through a tunnel to this machine (client mode).
    ``environment_epoch``: ``$SOURCE_DATE_EPOCH`` of the caller, when the door can read it (CLI).
    ``builders``: ``--builder PLATFORM=ENGINE_ADDRESS`` values of ``publish`` and ``plan`` (CLI
    only: a function running in an engine cannot open a session with another engine).
    ``local_file``, ``local_directory``: a file or directory of ``workdir`` as the engine takes it
    (CLI: the host's; module: the module's own); ``None``: the host's. ``engine``: the engine's address, for ``build``'s record.
    ``cache``: the build cache of the door's sessions (CLI: ``--cache-from``/``--cache-to`` or its
    environment; module mode: the caller's ``dagger`` CLI decides, invisible to the function).
    ``session_environment``: what each builder session also gets (the cache's Docker config).
    """

    credentials: Mapping[str, Credentials] = field(default_factory=dict)
    declared_registries: frozenset[str] = frozenset()
    endpoint: Callable[[str], RegistryEndpoint] = _direct
    workdir: Path | None = None
    out: Path | None = None
    tunnel: bool = False
    progress_log: Path | None = None
    tools: Callable[[], ToolImages] = ToolImages  # the default tool images (CLI: $SHIPYARD_TOOL_IMAGES)
    environment_epoch: str | None = None
    builders: tuple[str, ...] = ()
    local_file: Callable[[Path], dagger.File] | None = None
    local_directory: Callable[[Path], dagger.Directory] | None = None
    engine: str = "default"
    cache: CacheConfig = field(default_factory=lambda: CacheConfig(door=CacheDoor.CALLER))
    session_environment: Mapping[str, str] = field(default_factory=dict)
    progress: Progress = SILENT  # a release's live events (CLI: --progress; module mode: none)
    out_name: str = "dist"  # how the caller names ``out`` (module mode: the -o directory the workflows use)

    def scratch(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("this command needs an engine session's scratch directory")
        return self.workdir


def tool_images_from_text(text: str, origin: str) -> ToolImages:
    """Tool images from a JSON object naming some or all tools (``{"crane": "…@sha256:…"}``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("tool images", origin, f"is not JSON ({exc.msg})", 'Write e.g. {"crane": "mirror/crane:v0.22.1"}.') from None
    if not isinstance(data, dict):
        raise InvalidInput("tool images", origin, "is not a JSON object", 'Write e.g. {"crane": "mirror/crane:v0.22.1"}.')
    known = set(ToolImages.model_fields)
    return ToolImages(**{k: v for k, v in data.items() if k in known})


def tool_images_from_env() -> ToolImages:
    """The tool images named by ``$SHIPYARD_TOOL_IMAGES`` (a JSON file: mirrors, air-gapped use), else the defaults."""
    path = os.environ.get(TOOL_IMAGES_ENV)
    if not path:
        return ToolImages()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidInput(TOOL_IMAGES_ENV, path, f"cannot be read ({exc.strerror})", "Point it at a JSON file of tool images.") from None
    return tool_images_from_text(text, path)


def parse_build_args(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput("--build-arg", item, "is not NAME=VALUE", "Write e.g. --build-arg VERSION=1.2.3.")
        out[name.strip()] = value
    return out


def _epoch(source_date_epoch: int | None, door: Door) -> int | None:
    """``--source-date-epoch``, else the caller's ``$SOURCE_DATE_EPOCH`` (CLI), else unset."""
    if source_date_epoch is not None:
        return parse_epoch(source_date_epoch, what="--source-date-epoch")
    return parse_epoch(door.environment_epoch, what="SOURCE_DATE_EPOCH (environment)")


def _block(lines: str) -> list[str]:
    """A ``tags:``/``flavor:`` block (one rule per line, pasted verbatim) as the parsers take it."""
    return [lines] if lines.strip() else []


async def _info(source: SourceTree | None) -> SourceInfo:
    return await source.info() if source is not None else SourceInfo()


def required_image(image: str, what: str) -> str:
    if not image.strip():
        raise InvalidInput("--image", image, f"is missing: it names {what}", "Give --image, e.g. --image ghcr.io/acme/app.")
    return image
