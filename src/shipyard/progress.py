"""The CLI's live progress of a release (``--progress auto|tty|plain|quiet``), always on stderr.

``tty`` redraws a small live area (rich) of the steps running now, each platform's current
Dockerfile instruction and each push's blobs and bytes, and prints each finished step above
it; ``plain`` writes one timestamped line per event as it happens (CI logs); ``quiet`` nothing;
``auto`` is ``tty`` when stderr is a terminal, else ``plain``. In GitHub Actions
(``GITHUB_ACTIONS=true``) plain lines go into one ``::group::`` per step and a failure is an
``::error::`` annotation naming the step and its platform or registry. The report goes to
stdout in every mode. The Dockerfile instructions come from the engine's own progress log,
followed while the release runs (:func:`follow_engine_log`).
"""

from __future__ import annotations

import contextlib
import enum
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import anyio
from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from shipyard.reports.events import SILENT, BuildLines, Progress, human_size
from shipyard.reports.github import annotation, failure_title

GITHUB_ACTIONS_ENV = "GITHUB_ACTIONS"
_BUILD_STEP = "build+assemble"  # the step whose detail lines are the platforms' builds


class ProgressMode(enum.StrEnum):
    AUTO = "auto"
    TTY = "tty"
    PLAIN = "plain"
    QUIET = "quiet"


def in_github_actions(environment: Mapping[str, str]) -> bool:
    return environment.get(GITHUB_ACTIONS_ENV, "").lower() == "true"


def resolve_mode(mode: str, stream: TextIO, environment: Mapping[str, str]) -> ProgressMode:
    """``auto``: tty on a terminal (unless TERM=dumb), else plain."""
    chosen = ProgressMode(mode)
    if chosen is not ProgressMode.AUTO:
        return chosen
    terminal = stream.isatty() and environment.get("TERM", "") != "dumb"
    return ProgressMode.TTY if terminal and not in_github_actions(environment) else ProgressMode.PLAIN


def _stamp() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PlainProgress:
    """One timestamped line per event; in GitHub Actions each step's lines in a ``::group::``
    written when the step ends (steps run at once, and groups cannot nest)."""

    stream: TextIO
    github: bool = False
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _buffers: dict[str, list[str]] = field(default_factory=dict)
    _pushed: dict[str, int] = field(default_factory=dict)

    def _write(self, line: str, step: str = "") -> None:
        text = f"{_stamp()} {line}"
        if self.github and step in self._buffers:
            self._buffers[step].append(text)
            return
        print(text, file=self.stream, flush=True)

    def step_started(self, step: str) -> None:
        self._write(f"start  {step}")
        if self.github:
            self._buffers[step] = []

    def step_finished(self, step: str, seconds: float, error: str | None = None) -> None:
        verdict = "done  " if error is None else "FAILED"
        line = f"{verdict} {step} ({seconds:.1f} s)" + (f": {' '.join(error.split())}" if error else "")
        if not self.github:
            self._write(line)
            return
        lines = self._buffers.pop(step, [])
        print(f"::group::{step} ({seconds:.1f} s{', failed' if error else ''})", file=self.stream)
        for text in lines:
            print(text, file=self.stream)
        print("::endgroup::", file=self.stream)
        print(f"{_stamp()} {line}", file=self.stream, flush=True)
        if error and error != "cancelled":
            print(annotation("error", failure_title(step, error), error), file=self.stream, flush=True)

    def build_step(self, platform: str, instruction: str) -> None:
        if (platform, instruction) not in self._seen:
            self._seen.add((platform, instruction))
            self._write(f"build  {platform}: {instruction}", _BUILD_STEP)

    def pushed(self, repository: str, blobs: int, blobs_total: int, size: int, size_total: int) -> None:
        if blobs in (0, blobs_total) and self._pushed.get(repository) != blobs:  # each target's push: its start, its end
            self._pushed[repository] = blobs
            self._write(f"push   {repository}: {blobs}/{blobs_total} blobs, {human_size(size)}/{human_size(size_total)}", "push")

    def tags_moved(self, repository: str, tags: tuple[str, ...]) -> None:
        self._write(f"tags   {repository}: {', '.join(tags) or 'none'}", "promote")


@dataclass
class TtyProgress:
    """A live area on the terminal: the running steps with their time, each platform's current
    Dockerfile instruction, each push's blobs and bytes; finished steps are printed above it.
    The area is erased when it stops (the end of the release, or Ctrl-C), so the screen keeps
    only the finished lines."""

    console: Console
    _running: dict[str, float] = field(default_factory=dict)
    _builds: dict[str, str] = field(default_factory=dict)
    _pushes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    _spinner: Spinner = field(default_factory=lambda: Spinner("dots", style="cyan"))
    live: Live | None = None

    def step_started(self, step: str) -> None:
        self._running[step] = time.monotonic()
        self._refresh()

    def step_finished(self, step: str, seconds: float, error: str | None = None) -> None:
        self._running.pop(step, None)
        mark = Text("✓ ", style="green") if error is None else Text("✗ ", style="red")
        line = mark + Text(f"{step:<16}") + Text(f"{seconds:6.1f} s", style="dim")
        if error and error != "cancelled":
            line += Text("  " + " ".join(error.split())[:200], style="red")
        self.console.print(line)
        if step == _BUILD_STEP:
            for platform, instruction in sorted(self._builds.items()):
                self.console.print(Text(f"    {platform:<14} {instruction}", style="dim"), overflow="ellipsis", no_wrap=True)
        if step == "push":
            for repository, sent in sorted(self._pushes.items()):
                self.console.print(Text(f"    {repository}  {_push_line(*sent)}", style="dim"), overflow="ellipsis", no_wrap=True)
        self._refresh()

    def build_step(self, platform: str, instruction: str) -> None:
        self._builds[platform] = instruction
        self._refresh()

    def pushed(self, repository: str, blobs: int, blobs_total: int, size: int, size_total: int) -> None:
        self._pushes[repository] = (blobs, blobs_total, size, size_total)

    def tags_moved(self, repository: str, tags: tuple[str, ...]) -> None:
        self.console.print(Text("  tags ", style="bold") + Text(f"{repository}: ") + Text(", ".join(tags) or "none", style="cyan"))

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.refresh()

    def render(self) -> Group:
        """The live area: a line per running step, and its detail lines under it."""
        table = Table.grid(padding=(0, 1))
        table.add_column(width=2)
        table.add_column(no_wrap=True, overflow="ellipsis")
        now = time.monotonic()
        for step, started in list(self._running.items()):
            table.add_row(self._spinner, Text(f"{step:<16}") + Text(f"{now - started:6.1f} s", style="dim"))
            if step == _BUILD_STEP:
                for platform, instruction in sorted(self._builds.items()):
                    table.add_row("", Text(f"  {platform:<14} ", style="bold") + Text(instruction))
            if step == "push":
                for repository, sent in sorted(self._pushes.items()):
                    table.add_row("", Text(f"  {repository}  ", style="bold") + Text(_push_line(*sent)))
        return Group(table)


def _push_line(blobs: int, blobs_total: int, size: int, size_total: int) -> str:
    return f"{blobs}/{blobs_total} blobs  {human_size(size)}/{human_size(size_total)}"


@contextlib.contextmanager
def live_progress(mode: ProgressMode, stream: TextIO, environment: Mapping[str, str]) -> Iterator[Progress]:
    """The progress of ``mode`` on ``stream``, running for the block; a tty's live area is
    stopped (erased, cursor shown) however the block ends, Ctrl-C included."""
    if mode is ProgressMode.QUIET:
        yield SILENT
        return
    if mode is ProgressMode.PLAIN:
        yield PlainProgress(stream, github=in_github_actions(environment))
        return
    console = Console(file=stream, force_terminal=True)
    tty = TtyProgress(console)
    with Live(console=console, get_renderable=tty.render, refresh_per_second=8, transient=True, redirect_stdout=False) as live:
        tty.live = live
        try:
            yield tty
        finally:
            tty.live = None


async def follow_engine_log(path: Path, progress: Progress, interval: float = 0.25) -> None:
    """Read the engine's progress log as it grows and tell ``progress`` each platform's Dockerfile
    instruction; runs until cancelled."""
    lines = BuildLines()
    offset = 0
    while True:
        chunk, offset = await anyio.to_thread.run_sync(_complete_lines, path, offset)
        for line in chunk.splitlines():
            found = lines.feed(line)
            if found is not None:
                progress.build_step(*found)
        await anyio.sleep(interval)


def _complete_lines(path: Path, offset: int) -> tuple[str, int]:
    """The whole lines written to ``path`` after ``offset``, and the offset after them."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            data = log.read()
    except OSError:
        return "", offset
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8", errors="replace"), offset + end


def error_line(message: str) -> None:
    """A failure's one line on stderr (the CLI's own ``shipyard: error:`` prefix)."""
    print(f"shipyard: error: {' '.join(message.split())}", file=sys.stderr, flush=True)
