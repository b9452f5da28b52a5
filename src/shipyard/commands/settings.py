"""The settings file (``shipyard.toml`` in the source) and old spellings: how both doors turn what was given into a command's arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.release.settings import KEYS, PYPROJECT, SETTINGS_FILE, Origin, SettingsFile, parse_settings, resolve_settings
from shipyard.release.vocabulary import attestation_spellings, renamed_arguments
from shipyard.source import SourceTree

# --- the settings file: shipyard.toml in the source -----------------------------------------


async def read_settings(source: SourceTree | None) -> SettingsFile:
    """The source's ``shipyard.toml``, else its ``pyproject.toml``'s ``[tool.shipyard]``, else none."""
    if source is None:
        return SettingsFile()
    text = await source.read_text(SETTINGS_FILE, what=f"the source's {SETTINGS_FILE}")
    if text is not None:
        return parse_settings(text, SETTINGS_FILE)
    text = await source.read_text(PYPROJECT, what=f"the source's {PYPROJECT}")
    if text is not None and "shipyard" in text:
        return parse_settings(text, PYPROJECT)
    return SettingsFile()


@dataclass(frozen=True)
class Settled:
    """A command's arguments as it takes them: old spellings under their new names (``warnings``
    says which were used), and each setting the flag's value, else the settings file's, else the
    default; ``origins`` says which (``plan`` shows it)."""

    arguments: dict[str, Any]
    origins: dict[str, Origin]
    file: SettingsFile
    warnings: tuple[str, ...] = ()
    given: frozenset[str] = frozenset()  # the settings the command declares (plan shows their origins)


async def settle(name: str, arguments: Mapping[str, Any], keys: tuple[str, ...] | None = None) -> Settled:
    """The one place both doors turn what was given into a command's arguments: deprecated names
    (release/vocabulary.py), then the settings file (a setting not given arrives as ``None``).
    ``keys``: the settings to resolve (default: those among the arguments, when a ``source`` is
    among them: the file is read from it; a release resolves every one)."""
    spoken, warnings = renamed_arguments(name, arguments)
    if name == "verify":
        spoken["attestation"], old = attestation_spellings(list(spoken.get("attestation") or []))
        warnings += old
    if keys is None:
        keys = tuple(k for k in KEYS if k in spoken) if "source" in spoken else ()
    file = await read_settings(spoken.get("source")) if keys else SettingsFile()
    values, origins = resolve_settings(spoken, file, keys)
    return Settled(
        arguments={**spoken, **values}, origins=origins, file=file, warnings=tuple(warnings), given=frozenset(spoken) & frozenset(keys)
    )
