"""The checks of an engine command that need no engine, run by a door before it starts one."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from shipyard.commands.door import (
    Door,
)
from shipyard.commands.publish import (
    _host_layout,
    check_release_inputs,
    publish_steps,
    release_builders,
)
from shipyard.commands.verify import (
    verify_checks,
)
from shipyard.errors import InvalidInput
from shipyard.source import HostSource


def preflight(name: str, arguments: Mapping[str, Any], door: Door | None = None) -> None:
    """The checks of an engine command that need no engine, so a door can run them before it
    starts one (bad input exits 2 at once); each command repeats them itself."""
    checks: dict[str, Callable[..., object]] = {"publish": publish_steps, "verify": verify_checks}
    check = checks.get(name)
    if check is not None:
        check(**{k: arguments[k] for k in inspect.signature(check).parameters})
    if name == "publish":
        check_release_inputs(arguments)
    if name == "publish" and door is not None:
        release_builders(arguments["platform"], door)
        if arguments.get("from_") and door.builders:
            raise InvalidInput(
                "--builder", list(door.builders), "cannot go with --from: the layouts were built already", "Drop --builder or --from."
            )
        for tree in arguments.get("from_") or []:  # local layouts: each must be one build wrote (blobs are hashed later)
            if isinstance(tree, HostSource):
                _host_layout(tree)
