"""The one error hierarchy: every error Shipyard raises on purpose says what to do next."""

from __future__ import annotations


class ShipyardError(Exception):
    """Base class for errors a user can act on; the message names the input and the fix."""


class InvalidInput(ShipyardError):
    """An argument, configuration value or tag line is wrong; raised before anything runs."""

    def __init__(self, name: str, value: object, problem: str, fix: str) -> None:
        self.name = name
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(f"{name} {value!r}: {problem}. {fix}")


class RegistryError(ShipyardError):
    """A registry refused or failed a request; names the registry and the HTTP status."""

    def __init__(self, registry: str, message: str, status: int | None = None) -> None:
        self.registry = registry
        self.status = status
        where = f"registry {registry}" + (f" (HTTP {status})" if status is not None else "")
        super().__init__(f"{where}: {message}")


class GateFailed(ShipyardError):
    """A release gate (scan, verification, cleanup safety) said no; nothing was promoted."""
