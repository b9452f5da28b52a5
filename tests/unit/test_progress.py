"""Live progress and what a release tells GitHub Actions: the engine log's build lines, the plain
and GitHub renderings, the job summary and the step outputs."""

from __future__ import annotations

import io
import re

import pytest

from shipyard.progress import PlainProgress, ProgressMode, resolve_mode
from shipyard.reports.events import BuildLines, human_size
from shipyard.reports.github import annotation, failure_title, job_summary, outputs_file, step_outputs, without_trace_ids
from shipyard.reports.report import PublishReport, TargetReport

# Dagger's plain progress as the v0.19.10 CLI writes it (colours as in the real log): a build
# call whose arguments span lines, Shipyard's base-image probe, and instructions nested under
# the call that caused them (the arm64 call itself shown nested under the amd64 one).
ENGINE_LOG = """\
\x1b[95m12  : \x1b[0mDirectory.dockerBuild(
12  : ┆ platform: "linux/amd64"
12  : ┆ buildArgs: [{name: "BASE_IMAGE", value: "x"}]
12  : ): Container!
20  : ┆ Directory.dockerBuild(dockerfile: ".shipyard-base.Dockerfile", platform: "linux/amd64"): Container!
28  : ┆ ┆ [1/3] FROM 127.0.0.1:5002/debian
16  : ┆ Directory.dockerBuild(platform: "linux/amd64"): Container!
17  : ┆ ┆ Directory.dockerBuild(platform: "linux/arm64"): Container!
26  : ┆ ┆ ┆ [3/3] COPY message.txt /message.txt
26  : ┆ ┆ ┆ [3/3] COPY message.txt /message.txt CACHED [0.0s]
27  : ┆ ┆ [stage-1 2/3] RUN make
31  : ┆ ┆ ┆ some output of a nested span
27  : ┆ ┆ [stage-1 2/3] RUN make DONE [1m2.5s]
40  : remotes.docker.resolver.HTTPRequest
"""


def test_build_lines_name_each_platforms_instruction_and_skip_the_base_probe() -> None:
    lines = BuildLines()
    found = [r for r in (lines.feed(line) for line in ENGINE_LOG.splitlines()) if r is not None]
    assert found == [
        ("linux/arm64", "[3/3] COPY message.txt /message.txt"),
        ("linux/arm64", "[3/3] COPY message.txt /message.txt (CACHED)"),
        ("linux/amd64", "[stage-1 2/3] RUN make"),
        ("linux/amd64", "[stage-1 2/3] RUN make (DONE)"),
    ]


def test_a_multi_line_build_call_gives_its_platform_to_the_steps_under_it() -> None:
    lines = BuildLines()
    for line in ENGINE_LOG.splitlines()[:4]:
        assert lines.feed(line) is None
    assert lines.feed("33  : ┆ [2/2] RUN true") == ("linux/amd64", "[2/2] RUN true")


def _report(ok: bool = True) -> PublishReport:
    digest = "sha256:" + "a" * 64
    targets = (
        TargetReport("127.0.0.1:5000/it/app", "published", digest=digest, tags=("1.2.3", "1.2", "1", "latest")),
        TargetReport("ghcr.io/acme/app", "published" if ok else "failed", digest=digest if ok else None, tags=("1.2.3",) if ok else ()),
    )
    return PublishReport(
        version="1.2.3",
        digest=digest,
        platforms=({"platform": "linux/amd64", "digest": "sha256:" + "b" * 64},),
        targets=targets,
        tags=("1.2.3",),
        timings={"build+assemble": 12.34, "push": 1.0},
        error=None if ok else "push to ghcr.io/acme/app failed: 401 [traceparent:00-abc-def-01]",
    )


def test_the_outputs_name_the_digest_tags_and_images_in_the_runners_syntax() -> None:
    text = outputs_file(step_outputs(_report(), "dist/report.json"))
    assert "digest=sha256:" + "a" * 64 in text.splitlines()
    assert "version=1.2.3" in text.splitlines() and "report=dist/report.json" in text.splitlines()
    assert f"image=127.0.0.1:5000/it/app@sha256:{'a' * 64}" in text.splitlines()
    tags = re.search(r"^tags<<(\S+)\n(.*?)\n\1$", text, re.S | re.M)
    assert tags is not None
    assert tags.group(2).splitlines() == [
        "127.0.0.1:5000/it/app:1.2.3",
        "127.0.0.1:5000/it/app:1.2",
        "127.0.0.1:5000/it/app:1",
        "127.0.0.1:5000/it/app:latest",
        "ghcr.io/acme/app:1.2.3",
    ]


def test_the_job_summary_has_the_release_table_and_a_failure_without_trace_ids() -> None:
    summary = job_summary(_report())
    assert "release 1.2.3 published" in summary
    assert "| `127.0.0.1:5000/it/app` | published | `1.2.3`, `1.2`, `1`, `latest` |" in summary
    assert "linux/amd64" in summary and "docker pull 127.0.0.1:5000/it/app@sha256:" in summary
    failed = job_summary(_report(ok=False))
    assert "FAILED" in failed and "push to ghcr.io/acme/app failed: 401" in failed and "traceparent" not in failed


def test_annotations_are_escaped_and_name_the_platform_or_registry() -> None:
    assert annotation("error", "Shipyard build linux/arm64", "a: b\nc 100%") == "::error title=Shipyard build linux/arm64::a: b%0Ac 100%25"
    assert failure_title("build+assemble", "build for linux/arm/v7 failed: …") == "Shipyard build linux/arm/v7"
    assert failure_title("push", "push to 127.0.0.1:5000/x failed: 500") == "Shipyard push to 127.0.0.1:5000/x"
    assert failure_title("scan", "scan gate failed") == "Shipyard scan"
    assert without_trace_ids("boom [traceparent:00-1-2-01] (x)") == "boom (x)"


def test_plain_progress_writes_a_timestamped_line_per_event() -> None:
    stream = io.StringIO()
    progress = PlainProgress(stream)
    progress.step_started("build+assemble")
    progress.build_step("linux/amd64", "[2/3] RUN make")
    progress.build_step("linux/amd64", "[2/3] RUN make")  # said once
    progress.step_finished("build+assemble", 3.21)
    progress.pushed("r/app", 0, 3, 0, 3000)
    progress.pushed("r/app", 1, 3, 1000, 3000)  # between start and end: not a line
    progress.pushed("r/app", 3, 3, 3000, 3000)
    progress.step_finished("scan", 1.0, "scan gate failed: CVE-1")
    lines = stream.getvalue().splitlines()
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in lines), lines
    assert [line[21:] for line in lines] == [
        "start  build+assemble",
        "build  linux/amd64: [2/3] RUN make",
        "done   build+assemble (3.2 s)",
        "push   r/app: 0/3 blobs, 0 B/3.0 kB",
        "push   r/app: 3/3 blobs, 3.0 kB/3.0 kB",
        "FAILED scan (1.0 s): scan gate failed: CVE-1",
    ]


def test_in_github_actions_each_step_is_a_group_and_a_failure_an_annotation() -> None:
    stream = io.StringIO()
    progress = PlainProgress(stream, github=True)
    progress.step_started("build+assemble")
    progress.build_step("linux/arm64", "[2/3] RUN make")
    progress.step_finished("build+assemble", 2.0, "build for linux/arm64 failed: exit 2")
    lines = [line if line.startswith("::") else line[21:] for line in stream.getvalue().splitlines()]
    assert lines == [
        "start  build+assemble",
        "::group::build+assemble (2.0 s, failed)",
        "build  linux/arm64: [2/3] RUN make",
        "::endgroup::",
        "FAILED build+assemble (2.0 s): build for linux/arm64 failed: exit 2",
        "::error title=Shipyard build linux/arm64::build for linux/arm64 failed: exit 2",
    ]


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("mode", "tty", "env", "expected"),
    [
        ("auto", True, {"TERM": "xterm"}, ProgressMode.TTY),
        ("auto", False, {"TERM": "xterm"}, ProgressMode.PLAIN),
        ("auto", True, {"TERM": "dumb"}, ProgressMode.PLAIN),
        ("auto", True, {"TERM": "xterm", "GITHUB_ACTIONS": "true"}, ProgressMode.PLAIN),
        ("quiet", True, {}, ProgressMode.QUIET),
        ("tty", False, {}, ProgressMode.TTY),
    ],
)
def test_auto_progress_is_a_live_view_on_a_terminal_only(mode: str, tty: bool, env: dict[str, str], expected: ProgressMode) -> None:
    assert resolve_mode(mode, _Stream(tty), env) is expected


def test_sizes_read_as_people_read_them() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 29_184_325, 3 * 10**9)] == ["0 B", "999 B", "1.0 kB", "29.2 MB", "3.0 GB"]
