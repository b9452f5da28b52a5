"""A failed Dockerfile step's output, read from the engine session's plain progress log."""

from __future__ import annotations

from shipyard.steps.build import failed_step_output

MESSAGE = 'process "/bin/sh -c make" did not complete successfully: exit code: 2'
LOG = """\
\x1b[95m13  : \x1b[0m┆ ┆ [2/2] RUN make
\x1b[95m12  : \x1b[0m┆ ┆ [0.1s] | unrelated output of another step
\x1b[95m13  : \x1b[0m┆ ┆ [0.3s] | cc -o app main.c
\x1b[95m13  : \x1b[0m┆ ┆ [0.4s] | main.c:3: error: expected ';'
\x1b[95m13  : \x1b[0m┆ ┆ [2/2] RUN make\x1b[31m ERROR\x1b[0m [0.5s]
\x1b[95m13  : \x1b[0m┆ ┆ \x1b[33m! process "/bin/sh -c make" did not complete successfully: exit code: 2\x1b[0m
"""


def test_the_failed_steps_own_output_is_found() -> None:
    assert failed_step_output(LOG, MESSAGE) == "cc -o app main.c\nmain.c:3: error: expected ';'"


def test_only_the_last_lines_are_kept() -> None:
    assert failed_step_output(LOG, MESSAGE, limit=1) == "main.c:3: error: expected ';'"


def test_no_matching_step_gives_nothing() -> None:
    assert failed_step_output(LOG, 'process "/bin/sh -c other" did not complete successfully: exit code: 1') == ""
    assert failed_step_output("", MESSAGE) == ""
