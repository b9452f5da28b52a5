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
# A tool's commands run by toolrun (one exec per tool container) open theirs as
# `withExec /.shipyard/toolrun /run/shipyard/toolrun/syft.json`, and each command reports
# `toolrun: NAME: exit 0 in 0.37s` in that span.
_EXEC = re.compile(r"^(\d+)\s*:[\s┆]*withExec (\S+)(?: (\S+))?")
_OUTPUT = re.compile(r"^(\d+)\s*:[\s┆]*\[([\d.]+)s\] \|")  # `80 : ┆ [3.9s] | …`: output 3.9 s into the exec
_COMMAND = re.compile(r"^(\d+)\s*:.*toolrun: (\S+): exit (-?\d+) in ([\d.]+)s(?: \(([\d.]+)s CPU\))?")
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
    prints ``Container.withExec DONE [duration]`` under the same span number when it ends. A
    span may also close nested execs first (toolrun's cached build) and print the exec's output
    (``[3.9s] | …``) after them, so the exec's time is the longest of its DONEs and outputs.
    """
    tool_of_span: dict[str, str] = {}
    longest: dict[str, float] = {}
    for raw in progress_log.read_text(errors="replace").splitlines():
        line = _ANSI.sub("", raw)
        if match := _EXEC.match(line):
            program = Path(match[2]).name
            tool_of_span.setdefault(match[1], Path(match[3] or "").stem if program == "toolrun" else program)
        elif (match := _DONE.match(line)) and tool_of_span.get(match[1]) in TOOLS:
            longest[match[1]] = max(longest.get(match[1], 0.0), parse_duration(match[2]))
        elif (match := _OUTPUT.match(line)) and tool_of_span.get(match[1]) in TOOLS:
            longest[match[1]] = max(longest.get(match[1], 0.0), float(match[2]))
    return [(tool_of_span[span], seconds) for span, seconds in longest.items()]


def tool_commands(progress_log: Path) -> list[tuple[str, float]]:
    """Each command toolrun ran (name, seconds), from its ``toolrun: NAME: exit N in Ss`` lines
    (each reported once, though the log may repeat a span's output)."""
    seen: dict[tuple[str, str], float] = {}
    for raw in progress_log.read_text(errors="replace").splitlines():
        if match := _COMMAND.match(_ANSI.sub("", raw)):
            seen.setdefault((match[1], match[2]), float(match[4]))
    return [(name, seconds) for (_, name), seconds in seen.items()]


def tool_cpu_seconds(progress_log: Path) -> float:
    """The CPU time of every command toolrun ran, from its ``(Cs CPU)`` suffix (0 where absent)."""
    seen: dict[tuple[str, str], float] = {}
    for raw in progress_log.read_text(errors="replace").splitlines():
        if match := _COMMAND.match(_ANSI.sub("", raw)):
            seen.setdefault((match[1], match[2]), float(match[5] or 0.0))
    return round(sum(seen.values()), 2)


def seconds_by_tool(execs: Iterable[tuple[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for tool, seconds in execs:
        totals[tool] = totals.get(tool, 0.0) + seconds
    return {tool: round(seconds, 3) for tool, seconds in sorted(totals.items())}


def engine_version(progress_log: Path) -> str:
    """The engine's version as the session reported it (``server-version=v0.19.10``)."""
    found = re.search(r"server-version=(\S+)", _ANSI.sub("", progress_log.read_text(errors="replace")))
    return found[1] if found else ""
