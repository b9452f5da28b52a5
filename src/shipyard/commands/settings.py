"""The settings file (``shipyard.toml`` in the source) and old spellings: how both doors turn what was given into a command's arguments."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable, Callable, Mapping
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


async def settle(name: str, arguments: Mapping[str, Any]) -> Settled:
    """The one place both doors turn what was given into a command's arguments: deprecated names
    (release/vocabulary.py), then the settings file (a setting not given arrives as ``None``)."""
    spoken, warnings = renamed_arguments(name, arguments)
    if name == "verify":
        spoken["attestation"], old = attestation_spellings(list(spoken.get("attestation") or []))
        warnings += old
    keys = settings_keys(name)
    file = await read_settings(spoken.get("source")) if keys else SettingsFile()
    values, origins = resolve_settings(spoken, file, keys)
    return Settled(arguments={**spoken, **values}, origins=origins, file=file, warnings=tuple(warnings))


def settings_keys(name: str) -> tuple[str, ...]:
    """The settings ``commands.<name>`` takes (the keys of the file that are its arguments)."""
    from shipyard.commands import COMMANDS  # the commands import this module

    parameters = inspect.signature(inspect.unwrap(COMMANDS[name])).parameters
    if "source" not in parameters:  # the file is read from --source: commands without one take no settings
        return ()
    return tuple(k for k in KEYS if k in parameters)


def with_settings(command: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A command whose arguments go through :func:`settle` (old names warned about on stderr, the
    source's settings file read); a command with a ``settings`` parameter also gets the
    :class:`Settled` (``plan`` shows the origins)."""
    wants = "settings" in inspect.signature(command).parameters

    @functools.wraps(command)
    async def run(**arguments: Any) -> Any:
        settled = await settle(command.__name__, arguments)
        for warning in settled.warnings:
            print(f"shipyard: warning: {warning}", file=sys.stderr)
        return await command(**settled.arguments, **({"settings": settled} if wants else {}))

    return run
