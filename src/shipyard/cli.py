"""The ``shipyard`` command: a thin adapter over the same functions the Dagger module exposes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import anyio
import dagger
from dagger import dag

from shipyard.commands import SourceBuild, check_signing, publish, rebuild_check, tool_images_from_env
from shipyard.local_files import read_text_file
from shipyard.plan.config import (
    DEFAULT_SCAN_FAIL_ON,
    SbomFormat,
    ScanPolicy,
    SigningMode,
    SmokeTest,
    provenance_from_args,
    sbom_formats_from_args,
    scan_policy_from_args,
)
from shipyard.plan.errors import InvalidInput, shipyard_error_in
from shipyard.plan.labels import parse_epoch
from shipyard.plan.plan import build_release_plan
from shipyard.plan.report import PublishReport, RebuildReport
from shipyard.plan.retention import policy_from_args
from shipyard.plan.tags import EVENTS, parse_flavor, parse_tag_specs, tags_for
from shipyard.registries.select import BackendKind, cleanup_repository
from shipyard.secrets import Credentials, SecretValue, parse_build_secret, parse_registry_auth, resolve_secret
from shipyard.source import SourceInfo, read_source
from shipyard.steps.cleanup import CleanupReport
from shipyard.steps.readme import sync_readme
from shipyard.steps.sign import SigningKey
from shipyard.steps.tools import host_endpoint

DEBUG_ENV = "SHIPYARD_DEBUG"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shipyard",
        description="Release container images.",
        epilog="Exit codes: 0 done, 2 bad input, 3 a registry or gate failed, 1 a bug in Shipyard (please report it).",
    )
    parser.add_argument("--debug", action="store_true", help=f"show the traceback of an unexpected error (or set {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    tags = sub.add_parser("tags", help="compute the image tags for a Git ref (docker/metadata-action semantics)")
    tags.add_argument("--ref", default="", help="e.g. refs/tags/v1.2.3, refs/heads/main, refs/pull/7/merge; empty: no tags")
    tags.add_argument("--sha", default="", help="full 40-character commit SHA (default: HEAD of --source)")
    tags.add_argument("--event", default="push", choices=EVENTS)
    tags.add_argument("--default-branch", default="main")
    tags.add_argument("--base-ref", default="", help="base branch of a pull request, or the branch a tag was pushed from")
    tags.add_argument("--spec", action="append", default=[], help="a metadata-action tags: line (repeatable)")
    tags.add_argument("--flavor", action="append", default=[], help="a metadata-action flavor: line (repeatable)")
    tags.add_argument("--source", default=None, metavar="DIR", help="Git checkout: its commit time is the clock of {{date}}")
    tags.add_argument("--source-date-epoch", default=None, help="clock of {{date}} (default: $SOURCE_DATE_EPOCH, else the commit time)")
    tags.add_argument("--json", action="store_true", help='print {"version": ..., "tags": [...], "latest": ...}')

    plan = sub.add_parser("plan", help="print the release plan without touching anything (dry run)")
    plan.add_argument("--tag", required=True, help="version to release, e.g. v1.2.3")
    plan.add_argument("--target", action="append", default=[], help="repository to publish to; append ',optional'")
    plan.add_argument("--platform", action="append", default=[], help="e.g. linux/arm64 (repeatable or comma-separated)")
    plan.add_argument("--source", default=None, metavar="DIR", help="Git checkout: commit, commit time and origin for the labels")
    plan.add_argument("--sha", default="", help="commit SHA (default: HEAD of --source)")
    plan.add_argument("--event", default="push", choices=EVENTS)
    plan.add_argument("--spec", action="append", default=[])
    plan.add_argument("--flavor", action="append", default=[])
    plan.add_argument("--sign", default="none", choices=[m.value for m in SigningMode])
    plan.add_argument("--sbom", action="append", default=[], choices=[f.value for f in SbomFormat])
    plan.add_argument("--provenance", action="store_true")
    plan.add_argument("--scan-fail-on", default="", help="e.g. CRITICAL,HIGH; empty disables the scan gate")
    plan.add_argument(
        "--registry-credentials",
        action="append",
        default=[],
        metavar="REGISTRY",
        help="a registry that has credentials configured (for planning which targets publish)",
    )
    plan.add_argument("--source-date-epoch", default=None)
    plan.add_argument("--json", action="store_true")

    pub = sub.add_parser("publish", help="build every platform, push by digest, move the tags last, verify")
    pub.add_argument("--tag", required=True, help="version to release, e.g. v1.2.3")
    pub.add_argument("--source", default=".", metavar="DIR", help="the directory to build (its Git metadata labels the image)")
    pub.add_argument("--target", action="append", default=[], help="repository to publish to (repeatable); append ',optional'")
    pub.add_argument("--platform", action="append", default=[], help="e.g. linux/arm64 (repeatable or comma-separated)")
    pub.add_argument(
        "--registry-auth", action="append", default=[], metavar="HOST=USER:SOURCE", help="credentials, e.g. ghcr.io=bot:env:GHCR_TOKEN"
    )
    pub.add_argument("--dockerfile", default="Dockerfile", help="path of the Dockerfile, relative to --source")
    pub.add_argument("--build-target", default="", help="the Dockerfile stage to build")
    pub.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE", help="a build argument (repeatable)")
    pub.add_argument(
        "--build-secret",
        action="append",
        default=[],
        metavar="ID=SOURCE",
        help="a build secret for RUN --mount=type=secret,id=ID, from env:NAME or file:PATH (repeatable)",
    )
    pub.add_argument("--sha", default="", help="commit SHA (default: HEAD of --source)")
    pub.add_argument("--event", default="push", choices=EVENTS)
    pub.add_argument("--spec", action="append", default=[], help="a metadata-action tags: line (repeatable)")
    pub.add_argument("--flavor", action="append", default=[], help="a metadata-action flavor: line (repeatable)")
    pub.add_argument("--source-date-epoch", default=None, help="timestamp for reproducible images (default: the commit time)")
    pub.add_argument(
        "--sbom", action="append", default=[], choices=[f.value for f in SbomFormat], help="an SBOM per platform (default spdx-json)"
    )
    pub.add_argument("--no-sbom", action="store_true", help="no SBOMs")
    pub.add_argument("--scan-fail-on", default=DEFAULT_SCAN_FAIL_ON, metavar="SEVERITIES", help="Trivy gate on every platform")
    pub.add_argument("--no-scan", action="store_true", help="no Trivy scan and no gate")
    pub.add_argument("--trivyignore", default="", metavar="FILE", help="ids the gate accepts (default: the source's .trivyignore)")
    pub.add_argument("--provenance", action="store_true", help="SLSA v1 provenance (the default; attested to the index when signing)")
    pub.add_argument("--no-provenance", action="store_true", help="no provenance")
    pub.add_argument(
        "--sign", default="auto", choices=[m.value for m in SigningMode], help="sign before tags move (auto: when --cosign-key is given)"
    )
    pub.add_argument("--cosign-key", default="", metavar="SOURCE", help="cosign private key, file:PATH or env:NAME (with --sign key)")
    pub.add_argument("--cosign-password", default="", metavar="SOURCE", help="its password, env:NAME or file:PATH")
    pub.add_argument("--allow-backwards", action="store_true", help="move latest/major/minor tags even to an older release")
    pub.add_argument("--smoke-port", type=int, default=None, metavar="PORT", help="smoke test: run the native image, GET this port")
    pub.add_argument("--smoke-path", default="/", metavar="PATH", help="smoke test: the path that must answer 2xx (default /)")
    pub.add_argument("--smoke-cmd", action="append", default=[], metavar="ARG", help="smoke test: an argument replacing CMD (repeatable)")
    pub.add_argument("--smoke-timeout", type=int, default=60, metavar="SECONDS", help="smoke test: seconds to answer 2xx (default 60)")
    pub.add_argument("--out", default="dist", metavar="DIR", help="where the OCI layout and report.json are written")
    pub.add_argument("--json", action="store_true", help="print the report as JSON")

    check = sub.add_parser("rebuild-check", help="rebuild a release from source and name any platform whose digest differs")
    check.add_argument("--tag", required=True, help="the version that was released, e.g. v1.2.3")
    check.add_argument("--against", required=True, metavar="REF", help="the published release, e.g. ghcr.io/acme/app:1.2.3")
    check.add_argument("--source", default=".", metavar="DIR", help="the directory to build")
    check.add_argument("--platform", action="append", default=[], help="platforms (default linux/amd64,linux/arm64)")
    check.add_argument("--registry-auth", action="append", default=[], metavar="HOST=USER:SOURCE", help="credentials to read REF")
    check.add_argument("--dockerfile", default="Dockerfile", help="path of the Dockerfile, relative to --source")
    check.add_argument("--build-target", default="", help="the Dockerfile stage to build")
    check.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE", help="a build argument (repeatable)")
    check.add_argument("--build-secret", action="append", default=[], metavar="ID=SOURCE", help="a build secret (repeatable)")
    check.add_argument("--sha", default="", help="commit SHA (default: HEAD of --source)")
    check.add_argument("--source-date-epoch", default=None, help="the release's timestamp (default: the commit time)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    clean = sub.add_parser("cleanup", help="delete old images by policy (dry run unless --apply)")
    clean.add_argument("--repository", required=True, help="e.g. ghcr.io/acme/app or 127.0.0.1:5000/acme/app")
    clean.add_argument("--keep-untagged", type=int, default=None, metavar="N", help="keep the newest N untagged digests")
    clean.add_argument("--keep-prereleases", type=int, default=None, metavar="N", help="keep the newest N pre-release tags")
    clean.add_argument("--older-than", default="", metavar="DURATION", help="delete tags older than this (90d, 12h, 2w)")
    clean.add_argument("--protect", action="append", default=[], metavar="TAG", help="never delete this tag (adds to latest, stable)")
    clean.add_argument("--protect-regex", action="append", default=[], metavar="REGEX", help="never delete tags matching this")
    clean.add_argument("--no-default-protection", action="store_true", help="do not protect latest, stable and release versions")
    clean.add_argument("--only-untagged", action="store_true", help="consider untagged digests only; never touch tags")
    clean.add_argument("--backend", default="auto", choices=[k.value for k in BackendKind])
    clean.add_argument("--username", default="", help="registry or API user name")
    clean.add_argument("--password", default="", metavar="SOURCE", help="env:NAME or file:PATH holding the token")
    clean.add_argument("--api-url", default="", help="override the GHCR/Docker Hub API address (mirrors, tests)")
    clean.add_argument("--apply", action="store_true", help="delete; without it nothing is touched")
    clean.add_argument("--json", action="store_true")

    readme = sub.add_parser("sync-readme", help="push a README as the Docker Hub repository overview")
    readme.add_argument("--repository", required=True, help="docker.io/<namespace>/<name>")
    readme.add_argument("--readme", default="README.md", help="the Markdown file to publish")
    readme.add_argument("--short-description", default="", help="at most 100 characters")
    readme.add_argument("--username", required=True)
    readme.add_argument("--password", required=True, metavar="SOURCE", help="env:NAME or file:PATH holding a Docker Hub token")
    readme.add_argument("--api-url", default="", help="override the Docker Hub API address (tests, mirrors)")
    return parser


def _credentials(username: str, password: str) -> Credentials | None:
    if not password:
        if username:
            raise InvalidInput("--username", username, "is given without --password", "Add --password env:NAME or file:PATH.")
        return None
    secret = resolve_secret(password, what="--password")
    return Credentials(username=username or "token", password=secret)


def _read_text(path: str) -> str:
    return read_text_file(path, what="--readme")


@dataclass(frozen=True)
class _BuildInputs:
    """What ``publish`` and ``rebuild-check`` read on this machine before the engine starts."""

    source: SourceInfo
    credentials: dict[str, Credentials]
    secrets: list[tuple[str, SecretValue]]
    epoch: int | None


def _source_build(args: argparse.Namespace, inputs: _BuildInputs) -> SourceBuild:
    """The build both ``publish`` and ``rebuild-check`` run (inside an engine session)."""
    return SourceBuild(
        source=dag.host().directory(args.source),
        dockerfile=args.dockerfile,
        target=args.build_target,
        build_args=args.build_arg,
        secrets=[dag.set_secret(name, value.reveal()) for name, value in inputs.secrets],
        secret_ids=[name for name, _ in inputs.secrets],
        sha=args.sha or inputs.source.sha,
        source_date_epoch=inputs.epoch,
        commit_epoch=inputs.source.commit_epoch,
        source_url=inputs.source.url,
    )


def _build_inputs(args: argparse.Namespace) -> _BuildInputs:
    return _BuildInputs(
        source=read_source(args.source),
        credentials=dict(parse_registry_auth(a) for a in args.registry_auth),
        secrets=[parse_build_secret(a) for a in args.build_secret],
        epoch=parse_epoch(args.source_date_epoch or os.environ.get("SOURCE_DATE_EPOCH")),
    )


@contextlib.asynccontextmanager
async def _engine_session(log_dir: Path | None) -> AsyncIterator[Path]:
    """A Dagger session and a scratch directory. The engine's progress goes to stderr with
    SHIPYARD_DEBUG, else to LOG_DIR/engine.log: it must go somewhere that is read (the SDK's
    default, an unread pipe, blocks the session once it fills)."""
    with contextlib.ExitStack() as stack:
        if os.environ.get("SHIPYARD_DEBUG"):
            log: TextIO = sys.stderr
        elif log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            log = stack.enter_context((log_dir / "engine.log").open("w"))
        else:
            log = stack.enter_context(open(os.devnull, "w"))
        async with dagger.connection(dagger.Config(log_output=log)):
            yield Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shipyard-")))


async def _publish(args: argparse.Namespace) -> PublishReport:
    inputs = _build_inputs(args)
    tools = tool_images_from_env()
    out = Path(args.out)
    key = resolve_secret(args.cosign_key, what="--cosign-key") if args.cosign_key else None
    password = resolve_secret(args.cosign_password, what="--cosign-password") if args.cosign_password else None
    signing = SigningMode(args.sign).resolve(has_key=key is not None)
    check_signing(signing, has_key=key is not None)  # before the engine starts
    ignore = [read_text_file(args.trivyignore, what="--trivyignore")] if args.trivyignore else []
    scan = scan_policy_from_args(args.scan_fail_on, ignore, off=args.no_scan)
    provenance = provenance_from_args(args.provenance, off=args.no_provenance)
    sbom_formats = sbom_formats_from_args([SbomFormat(f) for f in args.sbom], off=args.no_sbom)
    smoke = SmokeTest.from_args(args.smoke_port, args.smoke_path, args.smoke_cmd, args.smoke_timeout)
    async with _engine_session(out) as scratch:
        signing_key = None
        if key is not None:
            secret_password = dag.set_secret("cosign-password", password.reveal()) if password else None
            signing_key = SigningKey(dag.set_secret("cosign-key", key.reveal()), secret_password)
        return await publish(
            _source_build(args, inputs),
            tag=args.tag,
            targets=args.target,
            platforms=args.platform,
            credentials=inputs.credentials,
            endpoint=host_endpoint,
            workdir=scratch,
            tools=tools,
            event=args.event,
            spec=args.spec,
            flavor=args.flavor,
            allow_backwards=args.allow_backwards,
            out=out,
            tunnel=True,
            progress_log=None if os.environ.get("SHIPYARD_DEBUG") else out / "engine.log",
            signing=signing,
            signing_key=signing_key,
            sbom_formats=sbom_formats,
            scan=scan,
            provenance=provenance,
            smoke=smoke,
        )


async def _rebuild_check(args: argparse.Namespace) -> RebuildReport:
    inputs = _build_inputs(args)
    async with _engine_session(None) as scratch:
        return await rebuild_check(
            _source_build(args, inputs),
            tag=args.tag,
            against=args.against,
            platforms=args.platform,
            credentials=inputs.credentials,
            endpoint=host_endpoint,
            workdir=scratch,
        )


async def _cleanup(args: argparse.Namespace) -> CleanupReport:
    policy = policy_from_args(
        keep_untagged=args.keep_untagged,
        keep_prereleases=args.keep_prereleases,
        older_than=args.older_than,
        protect=args.protect,
        protect_regex=args.protect_regex,
        only_untagged=args.only_untagged,
        default_protection=not args.no_default_protection,
    )
    credentials = _credentials(args.username, args.password)
    return await cleanup_repository(
        args.repository, policy, kind=BackendKind(args.backend), credentials=credentials, api_url=args.api_url, apply=args.apply
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _check_values(args, _repeatable(parser))
        _line_buffered(sys.stdout)  # so a closed pipe shows up in here, not at interpreter exit
        if args.command == "tags":
            source = read_source(args.source) if args.source else SourceInfo()
            result = tags_for(
                ref=args.ref,
                sha=args.sha or source.sha,
                event=args.event,
                default_branch=args.default_branch,
                base_ref=args.base_ref,
                specs=args.spec,
                flavor=args.flavor,
                source_date_epoch=parse_epoch(args.source_date_epoch or os.environ.get("SOURCE_DATE_EPOCH")),
                commit_epoch=source.commit_epoch,
            )
            print(result.render(as_json=args.json))
            return 0
        if args.command == "plan":
            source = read_source(args.source) if args.source else SourceInfo()
            plan = build_release_plan(
                tag=args.tag,
                sha=args.sha or source.sha,
                event=args.event,
                targets=args.target,
                credentials=args.registry_credentials,
                platforms=args.platform,
                tag_specs=parse_tag_specs(args.spec) if args.spec else None,
                flavor=parse_flavor(args.flavor) if args.flavor else None,
                signing=SigningMode(args.sign),
                sbom_formats=[SbomFormat(f) for f in args.sbom],
                provenance=args.provenance,
                scan=ScanPolicy.from_strings(args.scan_fail_on) if args.scan_fail_on else None,
                source_date_epoch=_source_date_epoch(args.source_date_epoch),
                commit_epoch=source.commit_epoch,
                annotations={"source": source.url or None},
                dockerfile=_optional_dockerfile(args.source),
            )
            print(plan.to_json() if args.json else plan.render_text())
            return 0
        if args.command == "publish":
            published = anyio.run(_publish, args)
            print(published.dumps() if args.json else published.render_text())
            return 0 if published.ok else 3
        if args.command == "rebuild-check":
            checked = anyio.run(_rebuild_check, args)
            print(checked.dumps() if args.json else checked.render_text())
            return 0 if checked.ok else 3
        if args.command == "cleanup":
            report = anyio.run(_cleanup, args)
            print(report.dumps() if args.json else report.render_text())
            return 0 if report.ok else 3
        if args.command == "sync-readme":
            text = _read_text(args.readme)
            if not args.username.strip():
                raise InvalidInput("--username", args.username, "is empty", "Give the Docker Hub user the token belongs to.")
            credentials = _credentials(args.username, args.password)
            print(anyio.run(sync_readme, args.repository, text, args.short_description, credentials, args.api_url))
            return 0
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print("shipyard: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place where every error ends
        return _report(exc, debug=args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"))
    return 1


def _optional_dockerfile(source: str | None) -> str | None:
    """The Dockerfile of ``plan --source`` (to show how its stages build), if it has one."""
    path = Path(source) / "Dockerfile" if source else None
    return read_text_file(str(path), what="Dockerfile of --source") if path and path.is_file() else None


def _source_date_epoch(flag: str | None) -> int | None:
    if flag is not None:
        return parse_epoch(flag, what="--source-date-epoch")
    return parse_epoch(os.environ.get("SOURCE_DATE_EPOCH"), what="SOURCE_DATE_EPOCH (environment)")


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
            flag = "--" + dest.replace("_", "-")
            raise InvalidInput(flag, "--", "is read as the end of the options, not as a value", "Give a real value.")


def _report(exc: Exception, debug: bool) -> int:
    """One line on stderr: the ShipyardError's own message, or a short note for a bug."""
    error = shipyard_error_in(exc)
    if error is not None:
        print(f"shipyard: error: {_one_line(str(error))}", file=sys.stderr)
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
