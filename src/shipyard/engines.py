"""Sessions with engines besides the default one: the builders of ``--builder PLATFORM=ADDRESS``.

The Dagger SDK opens a session by starting the Dagger CLI (``dagger session``), which finds its
engine in ``_EXPERIMENTAL_DAGGER_RUNNER_HOST``; the SDK offers no other way to pick the engine.
A builder's session is that same CLI with the variable set to the builder's address, passed to
that one process only, so the default session and this process's environment are untouched.
The SDK's own session plumbing (pinned with ``dagger-io``) reads the connection parameters.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import anyio
import dagger
from dagger.client._config import ConnectConfig
from dagger.client._session import SingleConnection
from dagger.provisioning._session import get_connect_params

from shipyard.plan.errors import ShipyardError

RUNNER_HOST_ENV = "_EXPERIMENTAL_DAGGER_RUNNER_HOST"
CLI_BIN_ENV = "_EXPERIMENTAL_DAGGER_CLI_BIN"
_SESSION_ENV = ("DAGGER_SESSION_PORT", "DAGGER_SESSION_TOKEN")  # a parent session's, never a builder's
_CLOSE_TIMEOUT = 60


class EngineUnreachable(ShipyardError):
    """A builder's engine could not be reached, or its session broke."""


@contextlib.asynccontextmanager
async def engine_session(address: str, log: TextIO, *, log_path: Path | None = None) -> AsyncIterator[dagger.Client]:
    """A client of the engine at ``address`` (``unix://``, ``tcp://``, ``ssh://``, ``kube-pod://``,
    ``docker-container://``, …); its progress goes to ``log``. Closing it ends the session."""
    cli = os.environ.get(CLI_BIN_ENV) or "dagger"
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_ENV}
    env[RUNNER_HOST_ENV] = address
    args = [cli, "session", "--label", "dagger.io/sdk.name:python"]
    try:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    except OSError as exc:
        raise EngineUnreachable(f"cannot start the Dagger CLI {cli!r} for the engine at {address}: {exc.strerror}") from None
    try:
        try:
            params = await anyio.to_thread.run_sync(get_connect_params, proc, abandon_on_cancel=True)
        except Exception as exc:  # the CLI exited: the engine is unreachable (its reason is in the log)
            raise EngineUnreachable(f"no session with the engine at {address}: {_last_lines(log_path) or exc}") from None
        async with SingleConnection(params, ConnectConfig()) as connection:
            yield dagger.Client.from_connection(connection)
    except BaseException:
        # A session whose engine went away does not end when asked to: stop it now.
        await anyio.to_thread.run_sync(_close, proc, 0.0, abandon_on_cancel=True)
        raise
    else:
        await anyio.to_thread.run_sync(_close, proc, _CLOSE_TIMEOUT, abandon_on_cancel=True)


def _close(proc: subprocess.Popen[str], timeout: float) -> None:
    """End the session as the SDK does (close stdin, let it drain for ``timeout`` seconds), then kill it."""
    with contextlib.suppress(OSError):
        if proc.stdin:
            proc.stdin.close()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _last_lines(path: Path | None, count: int = 3) -> str:
    """The end of a session's log, where the CLI says why it could not connect."""
    if path is None or not path.exists():
        return ""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return " ".join(lines[-count:])
