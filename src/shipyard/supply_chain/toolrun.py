"""A tool's commands for one release, as one plan for ``toolrun`` to run in one container (pure).

Starting a container costs the engine about two seconds; most tool commands of a release take
a few tenths. So each tool (syft, Trivy, cosign) gets one container per release, and
``steps/toolrun/main.go`` runs its commands there: chains at once (at most ``parallel`` chains
at a time, started in the plan's order), each chain's commands in order (a failure skips the
rest of its chain). This module writes the plan and reads the
results; ``steps/tools.py`` runs it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

TOOLRUN = "/.shipyard/toolrun"  # where the static helper is mounted in a tool container
PLAN_DIR = "/run/shipyard/toolrun"  # where its plan goes: <tool>.json
OUT_DIR = "/run/shipyard/out"  # where commands write the files the release reads back
# Chains running at once in one container, by default: a release's tool commands share the
# machine's cores with each other and with the other tools' containers.
PARALLEL = 4


@dataclass(frozen=True)
class ToolCommand:
    """One tool invocation: a name to report it by, its argv, and where its stdout goes (if kept)."""

    name: str
    argv: tuple[str, ...]
    stdout: str = ""


@dataclass(frozen=True)
class ToolResult:
    """How one command ended: exit -1 when it did not run (an earlier command of its chain failed)."""

    name: str
    exit: int
    seconds: float
    stderr: str
    cpu: float = 0.0  # user + system CPU seconds

    @property
    def ok(self) -> bool:
        return self.exit == 0

    def reason(self, tool: str) -> str:
        """The line that says why it failed (the tool's last), for error messages."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else f"{tool} exited with {self.exit}"


def toolrun_plan(chains: Sequence[Sequence[ToolCommand]], parallel: int = PARALLEL) -> str:
    """The plan file ``toolrun`` reads: at most ``parallel`` chains at a time (0: no bound)."""
    return json.dumps(
        {
            "chains": [[{"name": c.name, "argv": list(c.argv), "stdout": c.stdout} for c in chain] for chain in chains],
            "parallel": parallel,
        },
        indent=1,
    )


class ToolrunOutputError(ValueError):
    """``toolrun`` printed no results (it could not read its plan, or was killed)."""


def parse_results(stdout: str, chains: Sequence[Sequence[ToolCommand]]) -> dict[str, ToolResult]:
    """Name -> result, checked against the plan: every command is accounted for."""
    try:
        data = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None
        rows = data["results"] if isinstance(data, dict) else None
        results = {
            r["name"]: ToolResult(str(r["name"]), int(r["exit"]), float(r["seconds"]), str(r["stderr"]), float(r.get("cpu", 0.0)))
            for r in rows or []
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolrunOutputError(f"toolrun printed no results ({exc})") from None
    missing = [c.name for chain in chains for c in chain if c.name not in results]
    if missing:
        raise ToolrunOutputError(f"toolrun reported no result for {', '.join(missing)}")
    return results
