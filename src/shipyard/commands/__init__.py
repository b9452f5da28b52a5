"""The ONE implementation of each command, shared by both front doors: one module per command.

``main.py`` (module mode: ``dagger call``) and ``cli.py`` (client mode: ``shipyard``) declare
nothing here: each command takes exactly the arguments of its Dagger function in ``main.py``
(same names), converted the same way by both doors, plus a :class:`Door`:

- enums arrive as enum members, lists as lists (never ``None``);
- a ``dagger.Secret`` arrives as a :data:`SecretInput`: the Secret itself (module) or the
  :class:`SecretValue` read from ``env:``/``file:`` (CLI); ``None`` when not given. The list of
  build secrets arrives as ``(id, SecretInput)`` pairs;
- a ``dagger.File`` arrives as its text (``None`` when not given);
- a ``dagger.Directory`` arrives as a :class:`SourceTree` (``None`` when not given);
- a ``list[dagger.Directory]`` arrives as a list of :class:`SourceTree` (``publish --from``);
- ``registry`` (Services) and ``format`` never arrive: the door holds the endpoints, and
  renders the returned report (``plan.report.render``).

Every command returns a report (``ok``, ``to_dict``, ``render_text``): a report that is not ok
exits 3 in the CLI and fails ``dagger call``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from shipyard.commands import build, check_report, cleanup, plan, publish, rebuild_check, sync_readme, tags, verify
from shipyard.commands.door import Door

# Each command by its function's name in main.py (``rebuild_check``: the ``rebuild-check`` command).
COMMANDS: Mapping[str, Callable[..., Awaitable[Any]]] = {
    "tags": tags.tags,
    "plan": plan.plan,
    "publish": publish.publish,
    "build": build.build,
    "rebuild_check": rebuild_check.rebuild_check,
    "verify": verify.verify,
    "cleanup": cleanup.cleanup,
    "check_report": check_report.check_report,
    "sync_readme": sync_readme.sync_readme,
}

__all__ = ["COMMANDS", "Door"]
