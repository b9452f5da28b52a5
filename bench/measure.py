"""How the benchmarks measure: a client process's wall time and peak memory, medians with their
spread, and the tool containers' run times read from the engine's progress log."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The tools a release runs in containers of their own (steps/tools.py); their execs are what
# `overhead_ratio` compares the release's wall time with.
TOOLS = ("cosign", "syft", "trivy", "crane", "probe")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# `42  : ┆ withExec syft scan …` opens span 42; `42  : ┆ Container.withExec DONE [6.7s]` closes it.
_EXEC = re.compile(r"^(\d+)\s*:[\s┆]*withExec (\S+)")
_DONE = re.compile(r"^(\d+)\s*:[\s┆]*Container\.withExec (?:DONE|ERROR|CANCELED) \[([^\]]+)\]")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:([\d.]+)ms)?$")


@dataclass(frozen=True)
class ProcessRun:
    """One client command: exit code, output, wall time and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    max_rss_mib: float


def run_process(cmd: Sequence[str], env: Mapping[str, str] | None = None, timeout_s: float = 3600) -> ProcessRun:
    """Run ``cmd`` and read its own resource usage with ``os.wait4`` (``ru_maxrss``, KiB on Linux).

    The figure is the client process itself; the ``dagger session`` process the SDK starts is
    a child of it and not counted.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=dict(env) if env is not None else None)
        deadline = started + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
        out.seek(0)
        err.seek(0)
        return ProcessRun(
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            wall_s=wall,
            max_rss_mib=usage.ru_maxrss / 1024,
        )


def spread(name: str, values: Iterable[float], digits: int = 3) -> dict[str, float]:
    """``{name: median, name_min: …, name_max: …}``."""
    data = list(values)
    if not data:
        return {}
    return {
        name: round(statistics.median(data), digits),
        f"{name}_min": round(min(data), digits),
        f"{name}_max": round(max(data), digits),
    }


def median_steps(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The median of each step's time over runs (steps absent from a run are left out of it)."""
    names = list(dict.fromkeys(name for run in runs for name in run))
    return {name: round(statistics.median([run[name] for run in runs if name in run]), 3) for name in names}


def parse_duration(text: str) -> float:
    """The engine's span durations: ``0.5s``, ``1m2.3s``, ``1h2m``, ``120ms``."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r}")
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0) + float(millis or 0) / 1000


def tool_execs(progress_log: Path) -> list[tuple[str, float]]:
    """Each tool container exec of a session and how long it ran, from its engine progress log.

    The log (what ``dagger.Config(log_output=…)`` receives) names each exec when it starts and
    prints ``Container.withExec DONE [duration]`` under the same span number when it ends.
    """
    tool_of_span: dict[str, str] = {}
    execs: list[tuple[str, float]] = []
    for raw in progress_log.read_text(errors="replace").splitlines():
        line = _ANSI.sub("", raw)
        if match := _EXEC.match(line):
            tool_of_span.setdefault(match[1], Path(match[2]).name)
        elif (match := _DONE.match(line)) and tool_of_span.get(match[1]) in TOOLS:
            execs.append((tool_of_span.pop(match[1]), parse_duration(match[2])))
    return execs


def seconds_by_tool(execs: Iterable[tuple[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for tool, seconds in execs:
        totals[tool] = totals.get(tool, 0.0) + seconds
    return {tool: round(seconds, 3) for tool, seconds in sorted(totals.items())}


def engine_version(progress_log: Path) -> str:
    """The engine's version as the session reported it (``server-version=v0.19.10``)."""
    found = re.search(r"server-version=(\S+)", _ANSI.sub("", progress_log.read_text(errors="replace")))
    return found[1] if found else ""
