"""The ONE implementation of each command, shared by both front doors: one module per command.

``main.py`` (module mode: ``dagger call``) and ``cli.py`` (client mode: ``shipyard``) declare
nothing here: each command is handed the mapping of its Dagger function's arguments in
``main.py`` (same names; module mode: the function's own ``locals()``, the CLI: its options),
converted the same way by both doors (by each argument's kind, ``arguments.py``), plus a :class:`Door`:

- enums arrive as enum members, lists as lists (``None``: a setting not given, which the
  settings file or the default decides);
- a ``dagger.Secret`` arrives as a :data:`SecretInput`: the Secret itself (module) or the
  :class:`SecretValue` read from ``env:``/``file:`` (CLI); ``None`` when not given. The list of
  build secrets arrives as ``(id, SecretInput)`` pairs;
- a ``dagger.File`` arrives as its text (``None`` when not given);
- a ``dagger.Directory`` arrives as a :class:`SourceTree` (``None`` when not given);
- a ``list[dagger.Directory]`` arrives as a list of :class:`SourceTree` (``publish --from``);
- :data:`DOOR_ARGUMENTS` never arrive: the door holds the endpoints (``registry``), keeps
  the outputs (``keep_outputs``) and renders the returned report (``format``).

A command is two steps (:class:`Command`): ``prepare`` builds its options ONCE from the mapping
of its declared arguments the door hands over (old spellings and the settings file settled,
bad input raised: exit 2 before an engine starts), and ``run`` acts on them. ``publish``,
``plan``, ``build`` and ``rebuild-check`` take the one options model (commands/options.py).

Every command returns a report (``ok``, ``to_dict``, ``render_text``): a report that is not ok
exits 3 in the CLI and fails ``dagger call``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.commands import build, check_report, cleanup, plan, publish, rebuild_check, sync_readme, tags, verify
from shipyard.commands.door import Door
from shipyard.commands.options import BuildRunOptions, RebuildOptions, ReleaseOptions, settled
from shipyard.reports.report import Report

# What a door consumes itself and never hands to a command: loopback Services (it holds the
# endpoints), dagger call's --keep-outputs, and the report's format (it renders the report).
DOOR_ARGUMENTS = frozenset({"registry", "keep_outputs", "format"})


@dataclass(frozen=True)
class Command:
    """A command as both doors run it: its options from the arguments, then the run."""

    prepare: Callable[[Mapping[str, Any], Door], Awaitable[Any]]
    run: Callable[[Any, Door], Awaitable[Report]]


def _keywords(name: str, command: Callable[..., Awaitable[Report]], *, settle: bool = True) -> Command:
    """A command taking its (settled) arguments as keywords: no options model of its own."""

    async def prepare(given: Mapping[str, Any], door: Door) -> dict[str, Any]:
        del door
        return (await settled(name, given)).arguments if settle else dict(given)

    async def run(arguments: dict[str, Any], door: Door) -> Report:
        return await command(**arguments, door=door)

    return Command(prepare, run)


# Each command by its function's name in main.py (``rebuild_check``: the ``rebuild-check`` command).
COMMANDS: Mapping[str, Command] = {
    "tags": _keywords("tags", tags.tags, settle=False),
    "plan": Command(plan.prepare, plan.plan),
    "publish": Command(publish.prepare, publish.publish),
    "build": Command(build.prepare, build.build),
    "rebuild_check": Command(rebuild_check.prepare, rebuild_check.rebuild_check),
    "verify": Command(verify.prepare, verify.verify),
    "cleanup": _keywords("cleanup", cleanup.cleanup),
    "check_report": _keywords("check_report", check_report.check_report, settle=False),
    "sync_readme": _keywords("sync_readme", sync_readme.sync_readme),
}


async def run(name: str, given: Mapping[str, Any], door: Door) -> Report:
    """Both steps of a command at once (module mode: the function runs in the engine already)."""
    command = COMMANDS[name]
    return await command.run(await command.prepare(given, door), door)


def build_platforms(options: object) -> tuple[str, ...]:
    """The platforms a command's options build (none for a command that builds nothing)."""
    if isinstance(options, ReleaseOptions | BuildRunOptions | RebuildOptions):
        return options.build.platforms
    return ()


__all__ = ["COMMANDS", "DOOR_ARGUMENTS", "Command", "Door", "build_platforms", "run"]
