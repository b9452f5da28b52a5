"""Run test code against the stack's Dagger engine (the socket and CLI come from `ci/stack env`)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import dagger

T = TypeVar("T")


def run_in_engine(fn: Callable[[], Awaitable[T]]) -> T:
    """Open one Dagger session, run ``fn`` in it (``dagger.dag`` is connected) and return its result."""

    async def main() -> T:
        async with dagger.connection(dagger.Config(log_output=sys.stderr)):
            return await fn()

    return anyio.run(main)


def registry_service(address: str) -> dagger.Service:
    """A host registry on loopback, as engine containers reach it: a host service to bind."""
    port = int(address.rsplit(":", 1)[1])
    return dagger.dag.host().service([dagger.PortForward(backend=port, frontend=port)])
