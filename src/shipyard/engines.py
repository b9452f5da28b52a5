"""Sessions with engines besides the default one: the builders of ``--builder PLATFORM=ADDRESS``.

The Dagger SDK opens a session by starting the Dagger CLI (``dagger session``), which finds its
engine in ``_EXPERIMENTAL_DAGGER_RUNNER_HOST``; the SDK offers no other way to pick the engine.
A builder's session is that same CLI with the variable set to the builder's address, passed to
that one process only, so the default session and this process's environment are untouched.
The SDK's own connection class (pinned with ``dagger-io``) talks to it. Only the CLI door opens
builder sessions: the SDK copy inside a module's runtime lacks the CLI-session plumbing, so
nothing here is imported at module load.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TextIO

import anyio
import dagger

from shipyard.errors import ShipyardError
from shipyard.release.cache import CACHE_ENVS
from shipyard.sdk import session_classes
from shipyard.steps.build import plain_lines

RUNNER_HOST_ENV = "_EXPERIMENTAL_DAGGER_RUNNER_HOST"
CLI_BIN_ENV = "_EXPERIMENTAL_DAGGER_CLI_BIN"
_SESSION_ENV = ("DAGGER_SESSION_PORT", "DAGGER_SESSION_TOKEN")  # a parent session's, never a builder's
_CLOSE_TIMEOUT = 60
# How long a builder may take to give a session. The CLI itself waits 10 minutes for an engine;
# an engine it dials (a socket, SSH, a pod) answers in seconds or not at all, while one it must
# first start (docker-image://, container+podman://, …) may be pulling its image.
_DIAL_SCHEMES = ("unix", "tcp", "ssh", "kube-pod")
DIAL_TIMEOUT = 60.0
PROVISION_TIMEOUT = 600.0


class EngineUnreachable(ShipyardError):
    """An engine could not be reached (the default one, or a builder's), or its session broke."""

    exit_code = 3


ENGINE_HINT = (
    f"Point Shipyard at a running engine with {RUNNER_HOST_ENV} (e.g. unix:///run/dagger/engine.sock or tcp://HOST:PORT) "
    f"and at the Dagger CLI v{{version}} with {CLI_BIN_ENV} (or put `dagger` on PATH); without {RUNNER_HOST_ENV} "
    "the CLI starts its own engine with Docker"
)


def default_engine(environment: Mapping[str, str], version: str) -> tuple[str, str]:
    """What the default session will try: (the engine, the Dagger CLI), as a person reads them."""
    host = environment.get(RUNNER_HOST_ENV)
    engine = f"the engine at {host} ({RUNNER_HOST_ENV})" if host else f"an engine the Dagger CLI starts with Docker (no {RUNNER_HOST_ENV})"
    cli = environment.get(CLI_BIN_ENV)
    if cli:
        where = f"the Dagger CLI {cli} ({CLI_BIN_ENV})"
    elif shutil.which("dagger", path=environment.get("PATH")):
        where = f"the Dagger CLI {shutil.which('dagger', path=environment.get('PATH'))} (on PATH)"
    else:
        where = f"no Dagger CLI (none on PATH, no {CLI_BIN_ENV}): the SDK downloads v{version}"
    return engine, where


def check_default_engine(environment: Mapping[str, str], version: str, timeout: float = 5.0) -> None:
    """Fail at once, before anything is written, on an engine address that cannot answer: a
    ``unix://`` path that is no socket, a ``tcp://`` address that refuses. Other schemes (and
    none) are the CLI's to try."""
    host = environment.get(RUNNER_HOST_ENV, "")
    scheme, _, location = host.partition("://")
    problem = ""
    if scheme == "unix" and not Path(location).is_socket():
        problem = f"{location} is not a socket (is the engine running?)"
    elif scheme == "tcp":
        name, _, port = location.rpartition(":")
        try:
            socket.create_connection((name.strip("[]"), int(port)), timeout=timeout).close()
        except (OSError, ValueError) as exc:
            problem = f"nothing answers at {location} ({getattr(exc, 'strerror', None) or exc})"
    if problem:
        engine, _ = default_engine(environment, version)
        raise EngineUnreachable(f"no Dagger engine: tried {engine}: {problem}. {ENGINE_HINT.format(version=version)}.")


def unreachable(exc: BaseException, environment: Mapping[str, str], version: str) -> EngineUnreachable:
    """The error of a default session that could not start: what was tried, why, what to do."""
    engine, cli = default_engine(environment, version)
    detail = re.sub(r"\s*\[traceparent:[^]]*\]", "", " ".join(str(exc).split()))[:300] or type(exc).__name__
    return EngineUnreachable(
        f"no session with a Dagger engine: tried {engine} through {cli}: {detail}. {ENGINE_HINT.format(version=version)}."
    )


@contextlib.asynccontextmanager
async def engine_session(
    address: str, log: TextIO, *, log_path: Path | None = None, environment: Mapping[str, str] | None = None
) -> AsyncIterator[dagger.Client]:
    """A client of the engine at ``address`` (``unix://``, ``tcp://``, ``ssh://``, ``kube-pod://``,
    ``docker-container://``, …); its progress goes to ``log``. Closing it ends the session (and
    exports its build cache). ``environment``: the session's own cache settings (build_cache.py);
    no other session's cache variables reach it."""
    sdk = session_classes()  # the SDK's own classes, in the CLI's SDK only

    scheme, _, location = address.partition("://")
    if scheme == "unix" and not Path(location).is_socket():
        raise EngineUnreachable(f"no engine at {address}: {location} is not a socket (is the engine running there?)")
    timeout = DIAL_TIMEOUT if scheme in _DIAL_SCHEMES else PROVISION_TIMEOUT
    cli = os.environ.get(CLI_BIN_ENV) or "dagger"
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_ENV and k not in CACHE_ENVS}
    env.update(environment or {})
    env[RUNNER_HOST_ENV] = address
    args = [cli, "session", "--label", "dagger.io/sdk.name:python"]
    try:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    except OSError as exc:
        raise EngineUnreachable(f"cannot start the Dagger CLI {cli!r} for the engine at {address}: {exc.strerror}") from None
    try:
        try:
            with anyio.fail_after(timeout):
                line = await anyio.to_thread.run_sync(_first_line, proc, abandon_on_cancel=True)
            fields = json.loads(line)
            params = sdk.connect_params(port=int(fields["port"]), session_token=str(fields["session_token"]))
        except TimeoutError:
            raise EngineUnreachable(f"the engine at {address} gave no session within {timeout:.0f} s") from None
        except Exception as exc:  # the CLI exited: the engine is unreachable (its reason is in the log)
            raise EngineUnreachable(f"no session with the engine at {address}: {_cli_error(log_path) or exc}") from None
        async with sdk.single_connection(params, sdk.connect_config()) as connection:
            yield dagger.Client.from_connection(connection)
    except BaseException:
        # A session whose engine went away does not end when asked to: stop it now.
        await anyio.to_thread.run_sync(_close, proc, 0.0, abandon_on_cancel=True)
        raise
    else:
        await anyio.to_thread.run_sync(_close, proc, _CLOSE_TIMEOUT, abandon_on_cancel=True)


def _first_line(proc: subprocess.Popen[str]) -> str:
    """The session's connection parameters: the first line ``dagger session`` prints (JSON)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        raise EOFError(f"the Dagger CLI exited ({proc.wait()}) without a session")
    return line


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


def _cli_error(path: Path | None) -> str:
    """The CLI's ``Error: …`` line at the end of a session's log (why it could not connect)."""
    if path is None or not path.exists():
        return ""
    lines = [line.strip() for line in plain_lines(path.read_text(errors="replace"))]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    return re.sub(r"\s*\[traceparent:[^]]*\]", "", errors[-1]) if errors else ""
