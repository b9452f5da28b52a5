"""The Dagger Python SDK's private names Shipyard relies on, in one place.

The SDK's public API (``dagger.Client``, ``dagger.Doc``, ``@function``, …) offers no way to end a
function with a one-line message, to learn the CLI version the SDK pairs with, or to open a
session with an engine other than the default one. Those live under private modules
(``dagger.mod._exceptions``, ``dagger._engine._version``, ``dagger.client._session``), which an
SDK upgrade may move without notice. Everything else imports them from here, and
tests/unit/test_sdk_adapter.py fails naming the installed ``dagger-io`` and the engine that
dagger.json pins when one of them moved. The session classes exist in the CLI's SDK only (the
module runtime's copy lacks them): :func:`session_classes` imports them when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagger.mod._exceptions import FunctionError

__all__ = ["PRIVATE_NAMES", "FunctionError", "SessionClasses", "cli_version", "session_classes"]

# Each private name as ``module:attribute``, for the adapter's test and its error message.
PRIVATE_NAMES = (
    "dagger.mod._exceptions:FunctionError",
    "dagger._engine._version:CLI_VERSION",
    "dagger.client._config:ConnectConfig",
    "dagger.client._session:ConnectParams",
    "dagger.client._session:SingleConnection",
)


def cli_version() -> str:
    """The Dagger CLI version this SDK is generated for (the engine it expects)."""
    from dagger._engine._version import CLI_VERSION

    return str(CLI_VERSION)


@dataclass(frozen=True)
class SessionClasses:
    """The SDK's own classes for a session with an already started ``dagger session`` process."""

    connect_config: Any  # dagger.client._config.ConnectConfig
    connect_params: Any  # dagger.client._session.ConnectParams(port=, session_token=)
    single_connection: Any  # dagger.client._session.SingleConnection(params, config): an async context


def session_classes() -> SessionClasses:
    """The session classes (CLI door only: the module runtime's SDK has none)."""
    from dagger.client._config import ConnectConfig
    from dagger.client._session import ConnectParams, SingleConnection

    return SessionClasses(ConnectConfig, ConnectParams, SingleConnection)
