"""The ``shipyard`` command, built from the Dagger functions' signatures in ``main.py``.

Each ``@function`` of :class:`shipyard.main.Shipyard` is a subcommand (``rebuild_check`` ->
``rebuild-check``) whose options are the function's arguments, with the same names, defaults,
help and choices (:mod:`shipyard.arguments` reads them; a unit test holds the two equal). The
values are converted as :mod:`shipyard.commands` documents, and the command runs the same
``commands.COMMANDS[name]`` as ``dagger call`` (its options prepared before an engine starts).
What the CLI does differently is listed here, and only here:

- :data:`NOT_IN_CLI`: function arguments the CLI leaves out, and why;
- :data:`NOT_COMMANDS`: functions that are no subcommand, and the CLI's equivalent;
- :func:`_cli_only_options`: the few CLI-only options (credentials, ``--json``, ``--out``,
  ``--builder``, ``--cache-from``/``--cache-to``, ``--progress``, ``--debug``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import os
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import anyio
import dagger

from shipyard import __version__, commands
from shipyard.arguments import Argument, Kind, functions
from shipyard.auth import canonical_registry, parse_registry_auth
from shipyard.build_cache import DOCKER_CONFIG_ENV, export_digests, process_environment, session_environment
from shipyard.commands import DOOR_ARGUMENTS
from shipyard.commands.door import tool_images_from_env
from shipyard.commands.publish import cache_export_refs, with_cache_check
from shipyard.engines import check_default_engine, unreachable
from shipyard.errors import InvalidInput, shipyard_error_in
from shipyard.local_files import read_text_file
from shipyard.main import Shipyard
from shipyard.progress import ProgressMode, follow_engine_log, in_github_actions, live_progress, resolve_mode
from shipyard.release.cache import CacheConfig, CacheDoor, cache_config, config_from_environment, export_outcomes
from shipyard.release.settings import KEYS as SETTINGS_KEYS
from shipyard.reports.events import SILENT, Progress
from shipyard.reports.github import OUTPUTS_FILE, SUMMARY_FILE, annotation, failure_title, without_trace_ids
from shipyard.reports.report import NOT_OK_EXIT_CODE, OutputFormat, PublishReport, Report, render
from shipyard.sdk import cli_version
from shipyard.secrets import Credentials, parse_build_secret, resolve_secret
from shipyard.source import HostSource
from shipyard.steps.tools import host_endpoint
from shipyard.values.refs import parse_repository

DEBUG_ENV = "SHIPYARD_DEBUG"
ENGINE_STEP = "engine session"  # the CLI's own step before the release's: connecting to the engine
EXIT_CODES = (
    "Exit codes: 0 done; 2 bad input (nothing started, nothing written); 3 the release failed: a build, a registry, "
    "a gate (scan, smoke test, signing) or the engine (none reachable); 130/143 interrupted (Ctrl-C, SIGTERM); "
    "1 a bug in Shipyard (please report it). Every failure also prints one line on stderr."
)
RUNNER_HOST_ENV = "_EXPERIMENTAL_DAGGER_RUNNER_HOST"  # the engine the Dagger CLI connects to (else its default)

# Function arguments the CLI leaves out. Nothing else may differ (tests/unit/test_cli_surface.py).
NOT_IN_CLI = {
    "keep_outputs": "the CLI always writes dist/ (report.json, SARIF, engine.log), also when the release fails (exit 3)",
    "registry": "Services for loopback registries: a module cannot reach the caller's loopback, the CLI reaches it directly",
}
# Functions that are no subcommand.
NOT_COMMANDS = {
    "with_registry_auth": "the CLI takes credentials per command: --registry-auth HOST=USER:env:NAME|file:PATH",
    "version": "shipyard --version",
}
# Commands that run in the engine (they build): the CLI opens a Dagger session for them only,
# so tags, plan, cleanup and sync-readme run without an engine.
ENGINE_COMMANDS = {"publish", "build", "rebuild_check", "verify"}
# Commands that read no credentials (every other one takes --registry-auth).
NO_CREDENTIALS = {"tags", "build", "check_report"}
_METAVARS = {
    Kind.TEXT: None,
    Kind.INT: "N",
    Kind.SECRET: "env:NAME|file:PATH",
    Kind.FILE: "PATH",
    Kind.DIRECTORY: "DIR",
}


def pinned_engine_version() -> str:
    """The engine Shipyard is built and tested with: the SDK (dagger-io, pinned in pyproject.toml)
    provisions the engine of its own version, and dagger.json's engineVersion is the same."""
    return "v" + importlib.metadata.version("dagger-io")


def version_text() -> str:
    return f"shipyard {__version__} (Dagger engine {pinned_engine_version()})"


def command_name(function: str) -> str:
    return function.replace("_", "-")


def _add_argument(parser: argparse.ArgumentParser, arg: Argument) -> None:
    """One function argument as an option, mapped as :mod:`shipyard.arguments` documents."""
    options: dict[str, Any] = {"help": arg.help, "default": arg.default, "dest": arg.name}
    if arg.required:
        options["required"] = True
    if arg.kind is Kind.FLAG:
        parser.add_argument(arg.flag, action="store_true", **options)
        return
    if arg.kind is Kind.INT:
        options["type"] = int
    if arg.kind is Kind.CHOICE:
        options["choices"] = arg.choices
    metavar = "ID=env:NAME|file:PATH" if arg.kind is Kind.SECRET and arg.repeatable else _METAVARS.get(arg.kind)
    if metavar:
        options["metavar"] = metavar
    options["action"] = "append" if arg.repeatable else _Once
    parser.add_argument(arg.flag, **options)


class _Once(argparse.Action):
    """A single-value option given twice is a mistake (the first value would be lost silently):
    ``--spec`` takes the whole ``tags:`` block as one value, one rule per line."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None) -> None:
        given: set[str] = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in given:
            hint = " (one value with one rule per line)" if self.dest in ("spec", "flavor") else ""
            raise argparse.ArgumentError(self, f"is given more than once; give it once{hint}")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def _cli_only_options(parser: argparse.ArgumentParser, name: str, args: list[Argument]) -> None:
    """The CLI-only options: the explicit, small list of what ``dagger call`` spells differently."""
    if name not in NO_CREDENTIALS:  # dagger call: with-registry-auth --address --username --secret
        parser.add_argument(
            "--registry-auth",
            action="append",
            default=[],
            metavar="HOST=USER:SOURCE",
            help="credentials for a registry or its API, SOURCE env:NAME or file:PATH (repeatable), e.g. ghcr.io=bot:env:GHCR_TOKEN",
        )
    if name in ("cleanup", "sync_readme"):  # shorthand for --registry-auth of --image's registry
        parser.add_argument("--username", default=None, help="user name for the repository's registry (with --password)")
        parser.add_argument("--password", default="", metavar="SOURCE", help="env:NAME or file:PATH holding its token")
    if name == "plan":  # a dry run on a machine without the tokens
        parser.add_argument(
            "--registry-credentials",
            action="append",
            default=[],
            metavar="REGISTRY",
            help="a registry that will have credentials, without reading them (which targets publish)",
        )
    if name == "publish":  # dagger call returns dist/ as a Directory (-o DIR saves it)
        parser.add_argument("--out", default="dist", metavar="DIR", help="where the OCI layout and report.json are written")
    if name == "publish":  # a function's output is the engine's to show; the CLI draws the release's progress
        parser.add_argument(
            "--progress",
            default=ProgressMode.AUTO.value,
            choices=[m.value for m in ProgressMode],
            help="live progress on stderr: tty (a live view), plain (timestamped lines, for CI logs), quiet (only the result); "
            "auto: tty on a terminal, else plain (the report is on stdout in every mode)",
        )
    if name == "build":  # dagger call returns the layout as a Directory (-o DIR saves it)
        parser.add_argument(
            "--out",
            default="layout",
            metavar="DIR",
            help="where the OCI layout and shipyard-build.json are written (for publish --from DIR)",
        )
    if name in ("publish", "plan"):  # a function in an engine cannot open a session with another engine (README: native builders)
        parser.add_argument(
            "--builder",
            action="append",
            default=[],
            metavar="PLATFORM=ENGINE_ADDRESS",
            help="build PLATFORM on another Dagger engine (unix://, tcp://, ssh://, kube-pod://, docker-container://…), "
            "e.g. linux/arm64=ssh://ci@arm64-host (repeatable); the rest build on the default engine",
        )
    if name in ("publish", "rebuild_check", "plan"):  # a function cannot change its caller's session (docs/build-cache.md)
        parser.add_argument(
            "--cache-from",
            action="append",
            default=[],
            metavar="CACHE",
            help="import the build cache, as docker/build-push-action writes it: type=registry,ref=ghcr.io/acme/app:buildcache "
            "(a bare reference means type=registry; s3 is passed through) (repeatable)",
        )
        parser.add_argument(
            "--cache-to",
            action="append",
            default=[],
            metavar="CACHE",
            help="export the build cache when the session ends, e.g. type=registry,ref=ghcr.io/acme/app:buildcache,mode=max "
            "(repeatable); a failed export is a warning, never a failed release",
        )
    if name == "verify":  # dagger call prints the report; the CLI can also keep what it read
        parser.add_argument("--out", default="", metavar="DIR", help="write verify.json and each platform's verified SBOM here")
    if not any(a.name == "format" for a in args):  # the function returns no report; the CLI prints one
        parser.add_argument(
            "--format", default=OutputFormat.TEXT, choices=[f.value for f in OutputFormat], help="Report format: text or json"
        )
    parser.add_argument("--json", dest="format", action="store_const", const=OutputFormat.JSON, help="the same as --format json")


def _parser(main_object: type = Shipyard) -> argparse.ArgumentParser:
    """The ``shipyard`` parser: a subcommand per ``@function`` of ``main_object``."""
    parser = argparse.ArgumentParser(prog="shipyard", description="Release container images.", epilog=EXIT_CODES)
    parser.add_argument(
        "--version", action="version", version=version_text(), help="print Shipyard's version and the Dagger engine it pins, and exit"
    )
    parser.add_argument("--debug", action="store_true", help=f"show the traceback of an unexpected error (or set {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, args in functions(main_object).items():
        if name in NOT_COMMANDS:
            continue
        method = getattr(main_object, name)
        summary = (method.__doc__ or "").strip().splitlines()[0]
        command = sub.add_parser(command_name(name), help=summary, description=summary, epilog=EXIT_CODES)
        command.set_defaults(function=name)
        for arg in args:
            if arg.name not in NOT_IN_CLI:
                _add_argument(command, arg)
        _cli_only_options(command, name, args)
    return parser


# --- from options to the command's arguments -------------------------------------------------


def _value(arg: Argument, value: Any) -> Any:
    """An option's value as ``commands`` takes it (see its docstring): local files read, secrets
    resolved, all before any engine starts."""
    if value is None and arg.name in SETTINGS_KEYS:  # not given: the settings file or the default decides (commands.settle)
        return None
    if arg.repeatable:
        items = list(value or [])
        if arg.kind is Kind.SECRET:
            return [parse_build_secret(item) for item in items]
        if arg.kind is Kind.DIRECTORY:
            return [HostSource(item) for item in items]
        if arg.enum is not None:
            return [arg.enum(item) for item in items]
        return items
    if arg.kind is Kind.CHOICE and arg.enum is not None:
        return arg.enum(value)
    if arg.kind is Kind.SECRET:
        return resolve_secret(value, what=arg.flag) if value else None
    if arg.kind is Kind.FILE:
        return read_text_file(value, what=arg.flag) if value else None
    if arg.kind is Kind.DIRECTORY:
        return HostSource(value) if value else None
    return value


def command_arguments(name: str, options: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``commands.<name>``: every function argument but the excluded ones."""
    args = functions(Shipyard)[name]
    return {a.name: _value(a, getattr(options, a.name)) for a in args if a.name not in NOT_IN_CLI and a.name not in DOOR_ARGUMENTS}


def _credentials(name: str, options: argparse.Namespace) -> dict[str, Credentials]:
    credentials = dict(parse_registry_auth(a) for a in getattr(options, "registry_auth", []))
    username, password = getattr(options, "username", None), getattr(options, "password", "")
    if password:
        if username is not None and not username.strip():
            raise InvalidInput("--username", username, "is empty", "Give the user the token belongs to.")
        image, what = (options.image, "--image") if options.image else (options.repository, "--repository")
        registry = parse_repository(image, what=what).registry
        credentials[canonical_registry(registry)] = Credentials(username or "token", resolve_secret(password, what="--password"))
    elif username is not None:
        raise InvalidInput("--username", username, "is given without --password", "Add --password env:NAME or file:PATH.")
    return credentials


def _door(name: str, options: argparse.Namespace) -> commands.Door:
    return commands.Door(
        credentials=_credentials(name, options),
        declared_registries=frozenset(getattr(options, "registry_credentials", [])),
        endpoint=host_endpoint,
        tunnel=True,
        tools=tool_images_from_env,
        environment_epoch=os.environ.get("SOURCE_DATE_EPOCH"),
        out=Path(options.out) if getattr(options, "out", None) else None,
        out_name=getattr(options, "out", None) or "dist",
        builders=tuple(getattr(options, "builder", [])),
        engine=os.environ.get(RUNNER_HOST_ENV) or "default",
        cache=_cache(options),
    )


def _cache(options: argparse.Namespace) -> CacheConfig:
    """``--cache-from``/``--cache-to``, else the cache variables already in this environment."""
    given = cache_config(getattr(options, "cache_from", []), getattr(options, "cache_to", []))
    return given if given.configured else config_from_environment(os.environ)


@contextlib.asynccontextmanager
async def _engine_session(log_dir: Path | None, environment: Mapping[str, str] | None = None) -> AsyncIterator[Path]:
    """A Dagger session and a scratch directory. The engine's progress goes to stderr with
    SHIPYARD_DEBUG, else to LOG_DIR/engine.log: it must go somewhere that is read (the SDK's
    default, an unread pipe, blocks the session once it fills). ``environment``: the session's
    build cache (build_cache.py), given to the CLI the SDK starts and to nothing else. An engine
    that cannot answer fails before the log is opened; one that gives no session is an
    :class:`EngineUnreachable` saying what was tried."""
    check_default_engine(os.environ, cli_version())
    with contextlib.ExitStack() as stack:
        if os.environ.get(DEBUG_ENV):
            log: TextIO = sys.stderr
        elif log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            log = stack.enter_context((log_dir / "engine.log").open("w"))
        else:
            log = stack.enter_context(open(os.devnull, "w"))
        async with contextlib.AsyncExitStack() as session:
            with process_environment(environment or {}, replace_cache=environment is not None):
                try:
                    await session.enter_async_context(dagger.connection(dagger.Config(log_output=log)))
                except dagger.DaggerError as exc:
                    raise unreachable(exc, os.environ, cli_version()) from None
            yield Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shipyard-")))


async def run_command(name: str, options: argparse.Namespace, progress: Progress = SILENT) -> Report:
    """Read every local input, then run ``commands.<name>`` (in an engine session if it builds);
    ``progress`` hears a release's steps, and each platform's Dockerfile instruction from the
    engine's log as it is written."""
    kwargs = command_arguments(name, options)
    door = dataclasses.replace(_door(name, options), progress=progress)
    command = commands.COMMANDS[name]
    prepared = await command.prepare(kwargs, door)  # flags over shipyard.toml over defaults; bad input exits 2 here
    if name not in ENGINE_COMMANDS:
        return await command.run(prepared, door)
    if door.cache.door is CacheDoor.CLI and kwargs.get("build_secret"):
        values = [value.reveal() for _, value in kwargs["build_secret"]]
        door = dataclasses.replace(door, cache=door.cache.scoped_by_secrets(values))
    cache = door.cache
    refs = cache_export_refs(door, commands.build_platforms(prepared))
    before = {k: v for k, v in (await export_digests(refs, door.credentials, door.endpoint)).items() if not isinstance(v, Exception)}
    own = cache if cache.door is CacheDoor.CLI else CacheConfig()
    with session_environment(own, door.credentials) as environment:
        door = dataclasses.replace(door, session_environment={k: v for k, v in environment.items() if k == DOCKER_CONFIG_ENV})
        progress.step_started(ENGINE_STEP)
        started = time.monotonic()
        async with _engine_session(door.out, environment if own.configured else None) as scratch:
            progress.step_finished(ENGINE_STEP, time.monotonic() - started)
            log = None if os.environ.get(DEBUG_ENV) or door.out is None else door.out / "engine.log"
            async with anyio.create_task_group() as group:
                if log is not None and progress is not SILENT:
                    group.start_soon(follow_engine_log, log, progress)
                report = await command.run(prepared, dataclasses.replace(door, workdir=scratch, progress_log=log))
                group.cancel_scope.cancel()
            closing = time.monotonic()
        export_seconds = time.monotonic() - closing  # the engine exports the cache as the session closes
    if not cache.configured:
        return report
    outcomes = export_outcomes(before, await export_digests(refs, door.credentials, door.endpoint)) if refs else ()
    for outcome in outcomes:
        if not outcome.ok:
            print(f"shipyard: warning: cache: {outcome.message()}", file=sys.stderr)
    return with_cache_check(report, door, outcomes, export_seconds if cache.exports else None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    github = in_github_actions(os.environ)
    try:
        _check_values(options, _repeatable(_command_parser(parser, options.command)))
        _line_buffered(sys.stdout)  # so a closed pipe shows up in here, not at interpreter exit
        mode = resolve_mode(getattr(options, "progress", ProgressMode.QUIET.value), sys.stderr, os.environ)
        if mode is ProgressMode.TTY and os.environ.get(DEBUG_ENV):
            mode = ProgressMode.PLAIN  # the engine's own progress goes to stderr too
        with live_progress(mode, sys.stderr, os.environ) as progress:
            report = anyio.run(run_command, options.function, options, progress)
        print(render(report, OutputFormat(options.format)))
        if isinstance(report, PublishReport) and github:
            _append_github_files(Path(options.out))
        if not report.ok:
            _failure_line(report, github and not getattr(progress, "github", False))
        return 0 if report.ok else getattr(report, "exit_code", None) or NOT_OK_EXIT_CODE
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print("shipyard: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place where every error ends
        code = _report(exc, debug=options.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"))
        if github:
            print(annotation("error", f"Shipyard {command_name(options.function)}", str(shipyard_error_in(exc) or exc)), file=sys.stderr)
        return code


def _failure_line(report: Report, annotate: bool) -> None:
    """A failed report's one line on stderr (the report itself is on stdout): its error, else the
    first failed target's; in GitHub Actions also an annotation, unless the progress made one."""
    error = getattr(report, "error", None)
    if not error and isinstance(report, PublishReport):
        failed = next((t for t in report.targets if t.status == "failed" and not t.optional), None)
        error = f"{failed.repository}: {failed.error}" if failed is not None else None
    message = without_trace_ids(_one_line(str(error or "the command failed; the report above says what")))
    print(f"shipyard: error: {message}", file=sys.stderr, flush=True)
    if annotate:
        print(annotation("error", failure_title("", message), message), file=sys.stderr, flush=True)


def _append_github_files(out: Path) -> None:
    """In GitHub Actions: the job summary and the step outputs ``publish`` wrote into ``out``,
    appended to ``$GITHUB_STEP_SUMMARY`` and ``$GITHUB_OUTPUT`` (each when the runner sets it)."""
    for variable, name in (("GITHUB_STEP_SUMMARY", SUMMARY_FILE), ("GITHUB_OUTPUT", OUTPUTS_FILE)):
        target, written = os.environ.get(variable), out / name
        if target and written.exists():
            with open(target, "a", encoding="utf-8") as file:
                file.write(written.read_text(encoding="utf-8"))


def _command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The subcommand's parser: a name can be repeatable in one command and not in another (``--image``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    return parser


def _repeatable(parser: argparse.ArgumentParser) -> set[str]:
    """The destinations of every repeatable (``action="append"``) option of every subcommand."""
    out: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._AppendAction):
            out.add(action.dest)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _repeatable(sub)
    return out


def _check_values(args: argparse.Namespace, repeatable: set[str]) -> None:
    """argparse turns the value of ``--flag=--`` into an empty list; say so instead of crashing later."""
    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, list) for v in values) or (isinstance(value, list) and dest not in repeatable):
            flag = "--" + dest.removesuffix("_").replace("_", "-")
            raise InvalidInput(flag, "--", "is read as the end of the options, not as a value", "Give a real value.")


def _report(exc: Exception, debug: bool) -> int:
    """One line on stderr: the ShipyardError's own message, or a short note for a bug."""
    error = shipyard_error_in(exc)
    if error is not None:
        print(f"shipyard: error: {without_trace_ids(_one_line(str(error)))}", file=sys.stderr)
        return error.exit_code
    if debug:
        traceback.print_exception(exc)
    detail = _one_line(f"{type(exc).__name__}: {exc}")[:300]
    hint = "" if debug else f"; re-run with --debug (or {DEBUG_ENV}=1) for the traceback"
    print(f"shipyard: internal error: {detail}. This is a bug in Shipyard: please report it with the command{hint}.", file=sys.stderr)
    return 1


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _line_buffered(stream: object) -> None:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)


def _quiet_broken_pipe() -> int:
    """The reader went away (``| head``): stop quietly, as a process killed by SIGPIPE would."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush at exit
    except (OSError, ValueError):
        pass
    return 141
