"""Each argument is declared once: ``shipyard X --help`` offers exactly the arguments of the Dagger
function X in main.py (names, defaults, help, choices), apart from the documented exclusions and
the CLI-only options listed here.

The expected options are read from main.py's signatures by this test itself (``inspect`` and
``typing``), not through ``shipyard.arguments``, which the CLI is built with.
"""

from __future__ import annotations

import argparse
import inspect
import types
import typing
from enum import Enum
from typing import Any

import pytest
from dagger import DefaultPath, Doc, function

from shipyard import cli
from shipyard.main import Shipyard

# The CLI-only options, by command (README, "CLI and Dagger"): the explicit, small list.
CREDENTIALS = {"--registry-auth"}
CACHE = {"--cache-from", "--cache-to"}  # a function cannot change its caller's session (docs/build-cache.md)
CLI_ONLY: dict[str, set[str]] = {
    "tags": {"--json"},
    "plan": {"--json", *CREDENTIALS, "--registry-credentials", "--builder", *CACHE},
    "publish": {
        "--json",
        *CREDENTIALS,
        "--out",
        "--format",
        "--builder",
        *CACHE,
        "--progress",
    },  # --builder: a function cannot reach other engines
    "build": {"--json", "--out", "--format"},  # no credentials: it pushes nothing
    "rebuild-check": {"--json", *CREDENTIALS, *CACHE},
    "cleanup": {"--json", *CREDENTIALS, "--username", "--password"},
    "sync-readme": {"--json", *CREDENTIALS, "--username", "--password", "--format"},
    "verify": {"--json", *CREDENTIALS, "--out"},
    "check-report": {"--json", "--format"},
}
EXCLUDED_ARGUMENTS = {"registry", "keep_outputs"}  # list[dagger.Service]: the CLI reaches loopback registries directly
NOT_COMMANDS = {"with_registry_auth", "version"}  # the CLI's --registry-auth and --version


def declared(fn: Any) -> dict[str, dict[str, Any]]:
    """flag -> what --help must show, read from the function's own signature."""
    plain = inspect.unwrap(fn)
    hints = typing.get_type_hints(plain, include_extras=True)
    out = {}
    for name, parameter in inspect.signature(plain).parameters.items():
        if name == "self" or name in EXCLUDED_ARGUMENTS:
            continue
        base, *metadata = typing.get_args(hints[name])
        default_path = next((str(m) for m in metadata if isinstance(m, DefaultPath)), None)
        if typing.get_origin(base) in (typing.Union, types.UnionType):
            base = next(a for a in typing.get_args(base) if a is not type(None))
        repeatable = typing.get_origin(base) is list
        item = typing.get_args(base)[0] if repeatable else base
        default = parameter.default if parameter.default is not inspect.Parameter.empty else default_path
        out["--" + name.removesuffix("_").replace("_", "-")] = {  # from_ -> --from, as Dagger names it
            "help": next(m.documentation for m in metadata if isinstance(m, Doc)),
            "default": default.value if isinstance(default, Enum) else default,
            "choices": [m.value for m in item] if isinstance(item, type) and issubclass(item, Enum) else None,
            "required": parameter.default is inspect.Parameter.empty and default_path is None,
            "repeatable": repeatable,
            "flag": item is bool,
        }
    return out


def offered(parser: argparse.ArgumentParser) -> dict[str, dict[str, Any]]:
    """flag -> what --help shows, read from the subcommand's parser."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        default = action.default.value if isinstance(action.default, Enum) else action.default
        out[action.option_strings[0]] = {
            "help": action.help,
            "default": default,
            "choices": [str(c) for c in action.choices] if action.choices else None,
            "required": action.required,
            "repeatable": isinstance(action, argparse._AppendAction),
            "flag": isinstance(action, argparse._StoreTrueAction),
        }
    return out


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def differences(parser: argparse.ArgumentParser, main_object: type, cli_only: dict[str, set[str]]) -> list[str]:
    """Every way the CLI differs from the functions, beyond the documented exclusions."""
    found: list[str] = []
    commands = subcommands(parser)
    functions = {n: m for n, m in vars(main_object).items() if hasattr(m, "__dagger_function__") and n not in NOT_COMMANDS}
    if set(commands) != {n.replace("_", "-") for n in functions}:
        found.append(f"subcommands {sorted(commands)} are not the functions {sorted(functions)}")
    for name, fn in functions.items():
        command = name.replace("_", "-")
        if command not in commands:
            continue
        want, have = declared(fn), offered(commands[command])
        extra = set(have) - set(want) - cli_only.get(command, set())
        found += [f"{command} {flag}: not an argument of the function and not a documented CLI-only option" for flag in sorted(extra)]
        found += [f"{command} {flag}: missing from the CLI" for flag in sorted(set(want) - set(have))]
        for flag in sorted(set(want) & set(have)):
            found += [
                f"{command} {flag} {key}: {have[flag][key]!r} != {want[flag][key]!r}"
                for key in want[flag]
                if have[flag][key] != want[flag][key]
            ]
    return found


def test_every_subcommand_offers_exactly_its_functions_arguments() -> None:
    assert differences(cli._parser(), Shipyard, CLI_ONLY) == []


def test_the_documented_exclusions_are_the_cli_modules_own() -> None:
    assert set(cli.NOT_IN_CLI) == EXCLUDED_ARGUMENTS and set(cli.NOT_COMMANDS) == NOT_COMMANDS


class Extended(Shipyard):
    """Shipyard with an argument added to publish, as a contributor would add one in main.py."""

    @function
    async def publish(
        self,
        tag: typing.Annotated[str, Doc("Version to release, e.g. v1.2.3")],
        smoke_test: typing.Annotated[list[str] | None, Doc("A command to run in the image before tags move")] = None,
    ) -> str:
        """Publish."""
        return ""


def test_an_argument_added_to_a_function_appears_in_the_cli() -> None:
    parser = cli._parser(Extended)
    smoke = offered(subcommands(parser)["publish"])["--smoke-test"]
    assert smoke["help"] == "A command to run in the image before tags move" and smoke["repeatable"]


@pytest.mark.parametrize(
    ("sabotage", "expected"),
    [
        (lambda p: p.add_argument("--quiet", action="store_true"), "publish --quiet: not an argument of the function"),
        (lambda p: setattr(next(a for a in p._actions if a.dest == "dockerfile"), "default", "Containerfile"), "--dockerfile default"),
        (lambda p: setattr(next(a for a in p._actions if a.dest == "sign"), "help", "sign it"), "--sign help"),
        (lambda p: setattr(next(a for a in p._actions if a.dest == "sbom"), "choices", ["spdx-json"]), "--sbom choices"),
    ],
    ids=["an undocumented option", "a default", "a help text", "the choices"],
)
def test_the_parity_check_fails_when_the_cli_drifts(sabotage: Any, expected: str) -> None:
    parser = cli._parser()
    sabotage(subcommands(parser)["publish"])
    assert any(expected in d for d in differences(parser, Shipyard, CLI_ONLY))


def test_an_argument_the_cli_does_not_offer_is_a_difference() -> None:
    parser = cli._parser(Shipyard)
    assert any("--smoke-test: missing from the CLI" in d for d in differences(parser, Extended, CLI_ONLY))
