"""What a release reports while it runs (pure): the events, and the build lines read from the
engine's progress.

The pipeline tells a :class:`Progress` when each step starts and ends, what each push has sent
and which tags moved; the CLI renders that live (``--progress``), module mode ignores it
(:data:`SILENT`). The engine's own progress (the Dagger CLI's plain log) names each Dockerfile
instruction as it runs; :class:`BuildLines` follows it and tells, per platform, the current one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol


class Progress(Protocol):
    """Where a release's live events go; every method must return at once."""

    def step_started(self, step: str) -> None: ...

    def step_finished(self, step: str, seconds: float, error: str | None = None) -> None: ...

    def build_step(self, platform: str, instruction: str) -> None: ...

    def pushed(self, repository: str, blobs: int, blobs_total: int, size: int, size_total: int) -> None: ...

    def tags_moved(self, repository: str, tags: tuple[str, ...]) -> None: ...


class _Silent:
    """No live progress (module mode, ``--progress quiet``)."""

    def step_started(self, step: str) -> None:
        pass

    def step_finished(self, step: str, seconds: float, error: str | None = None) -> None:
        pass

    def build_step(self, platform: str, instruction: str) -> None:
        pass

    def pushed(self, repository: str, blobs: int, blobs_total: int, size: int, size_total: int) -> None:
        pass

    def tags_moved(self, repository: str, tags: tuple[str, ...]) -> None:
        pass


SILENT: Progress = _Silent()

# A line of Dagger's plain progress: "<span id> : <"┆ " per depth><text>", colours stripped.
_LINE = re.compile(r"^(\d+)\s+:\s?((?:┆ ?)*)(.*)$")
_PLATFORM = re.compile(r'platform: "([^"]+)"')
_INSTRUCTION = re.compile(r"^\[(?:[\w.-]+ )?\d+/\d+\] \S")
_STATUS = re.compile(r"\s+(DONE|CACHED|ERROR|CANCELED)\s+\[[0-9hm.]*s\]$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class BuildLines:
    """Follows the engine's plain progress, a line at a time, and yields (platform, instruction)
    for each Dockerfile instruction of the release's builds (``[2/5] RUN make``), with its
    outcome when it ended (``… (DONE)``). The engine nests a build's instructions under the
    ``Directory.dockerBuild(platform: …)`` call that caused them: an instruction's span belongs
    to the nearest shallower line before it, and so on up to a build call (whose arguments may
    span several lines). Shipyard's own base-image probes (``.shipyard-base.Dockerfile``) are
    not the release's build and are left out."""

    _calls: dict[str, dict[str, str]] = field(default_factory=dict)  # build call span -> its platform, or "base"
    _parent: dict[str, str | None] = field(default_factory=dict)  # any other span -> the span it is nested in
    _last_at_depth: dict[int, str] = field(default_factory=dict)  # depth -> span id of the last line there

    def feed(self, line: str) -> tuple[str, str] | None:
        match = _LINE.match(_ANSI.sub("", line).rstrip())
        if match is None:
            return None
        span, depth, text = match.group(1), match.group(2).count("┆"), match.group(3)
        self._last_at_depth[depth] = span
        for deeper in [d for d in self._last_at_depth if d > depth]:
            del self._last_at_depth[deeper]
        if "dockerBuild(" in text and span not in self._calls:
            self._calls[span] = {}
        call = self._calls.get(span)
        if call is not None:
            named = _PLATFORM.search(text)
            if named:
                call["platform"] = named.group(1)
            if ".shipyard-base." in text:
                call["base"] = "yes"
            return None
        if span not in self._parent:
            self._parent[span] = self._last_at_depth.get(depth - 1)
        platform = self._platform(span)
        if platform is None or not _INSTRUCTION.match(text):
            return None
        status = _STATUS.search(text)
        instruction = text[: status.start()] if status else text
        return platform, f"{instruction} ({status.group(1)})" if status else instruction

    def _platform(self, span: str | None) -> str | None:
        seen: set[str] = set()
        while span is not None and span not in seen:
            seen.add(span)
            call = self._calls.get(span)
            if call is not None:
                return None if call.get("base") else call.get("platform")
            span = self._parent.get(span)
        return None


def human_size(size: int) -> str:
    """Bytes as people read them: 1.2 MB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
