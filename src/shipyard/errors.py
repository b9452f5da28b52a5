"""The one error hierarchy: every error Shipyard raises on purpose says what to do next.

Each class carries the exit code the ``shipyard`` command ends with: 2 for input the user can
fix before anything runs, 3 when a registry or a release gate said no.
"""

from __future__ import annotations

_MAX_SHOWN = 80  # characters of an offending value shown in a message


class ShipyardError(Exception):
    """Base class for errors a user can act on; the message names the input and the fix."""

    exit_code = 2


class InvalidInput(ShipyardError):
    """An argument, configuration value or tag line is wrong; raised before anything runs.

    ``name`` is the argument as users type it in both doors (``--older-than``), or what the
    value is when it is not an argument of its own (``image tag``).
    """

    exit_code = 2

    def __init__(self, name: str, value: object, problem: str, fix: str) -> None:
        self.name = name
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(f"{name} {shown(value)}: {problem}. {fix}")


class RegistryError(ShipyardError):
    """A registry refused or failed a request; names the registry and the HTTP status."""

    exit_code = 3

    def __init__(self, registry: str, message: str, status: int | None = None) -> None:
        self.registry = registry
        self.status = status
        where = f"registry {registry}" + (f" (HTTP {status})" if status is not None else "")
        super().__init__(f"{where}: {message}")


class GateFailed(ShipyardError):
    """A release gate (scan, verification, cleanup safety) said no; nothing was promoted."""

    exit_code = 3


def shown(value: object) -> str:
    """A value as a message shows it: quoted, on one line, long values cut in the middle."""
    text = repr(value)
    if len(text) <= _MAX_SHOWN:
        return text
    half = _MAX_SHOWN // 2 - 2
    return f"{text[:half]}...{text[-half:]} ({len(str(value))} characters)"


def shipyard_error_in(exc: BaseException) -> ShipyardError | None:
    """The ShipyardError that ``exc`` is, or the first of an exception group (task groups wrap
    what their tasks raise) made only of ShipyardErrors; ``None`` otherwise (a bug to report)."""
    if isinstance(exc, ShipyardError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [shipyard_error_in(inner) for inner in exc.exceptions]
        if found and all(found):
            return found[0]
    return None
