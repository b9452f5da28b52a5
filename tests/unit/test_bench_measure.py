"""The benchmark's measuring helpers (bench/measure.py): what it reads from an engine progress log
and how it summarises runs. The log below is the shape `publish` writes to `<out>/engine.log`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench.measure import (
    engine_version,
    median_steps,
    parse_duration,
    run_process,
    seconds_by_tool,
    spread,
    tool_commands,
    tool_cpu_seconds,
    tool_execs,
)

LOG = """\
\x1b[95m4   : \x1b[0m┆ ┆ connecting to engine | 03:17:15 INF connected name=vm client-version=v0.19.10 server-version=v0.19.10
\x1b[95m42  : \x1b[0m\x1b[90;2m┆ \x1b[0m\x1b[34mwithExec\x1b[0m syft scan registry:registry-5000:5000/bench/app@sha256:51ed -o spdx-json -q
\x1b[95m50  : \x1b[0m┆ withExec cosign attest --yes --key /run/shipyard/cosign.key registry-5001:5001/bench/app@sha256:aa49
\x1b[95m42  : \x1b[0m┆ withExec syft scan registry:registry-5000:5000/bench/app@sha256:51ed -o spdx-json -q
\x1b[95m42  : \x1b[0m┆ [6.4s] | {"spdxVersion":"SPDX-2.3"}
\x1b[95m42  : \x1b[0m\x1b[90;2m┆ \x1b[0mContainer.withExec\x1b[32m DONE\x1b[0m\x1b[90m [6.7s]\x1b[0m
\x1b[95m50  : \x1b[0m┆ Container.withExec DONE [1m2.5s]
\x1b[95m61  : \x1b[0m┆ withExec /bin/sh -c mkdir -p /etc/app
\x1b[95m61  : \x1b[0m┆ Container.withExec DONE [3.0s]
\x1b[95m70  : \x1b[0mwithExec trivy image --insecure registry-5000:5000/bench/app@sha256:1c64
\x1b[95m70  : \x1b[0mContainer.withExec ERROR [450ms]
\x1b[95m80  : \x1b[0m┆ withExec /.shipyard/toolrun /run/shipyard/toolrun/cosign.json
\x1b[95m80  : \x1b[0m┆ Container.withExec DONE [0.0s]
\x1b[95m80  : \x1b[0m┆ [0.4s] | toolrun: 0-sign: exit 0 in 0.37s
\x1b[95m80  : \x1b[0m┆ [0.9s] | toolrun: 1-sign: exit 0 in 0.41s
\x1b[95m80  : \x1b[0m┆ [0.9s] | toolrun: 1-sign: exit 0 in 0.41s
\x1b[95m80  : \x1b[0m┆ [1.4s] | toolrun: attest-0-index: exit 0 in 0.45s (0.31s CPU)
\x1b[95m80  : \x1b[0m┆ [1.4s] | toolrun: attest-0-index: exit 0 in 0.45s (0.31s CPU)
\x1b[95m80  : \x1b[0m┆ [1.9s] | toolrun: attest-0-linux/amd64: exit 0 in 0.52s (0.36s CPU)
\x1b[95m80  : \x1b[0m┆ Container.withExec DONE [2.5s]
\x1b[95m80  : \x1b[0m┆ [3.1s] | {"results": []}
"""


@pytest.fixture
def progress_log(tmp_path: Path) -> Path:
    path = tmp_path / "engine.log"
    path.write_text(LOG)
    return path


def test_tool_execs_are_read_from_the_progress_log_and_build_steps_are_not_tools(progress_log: Path) -> None:
    execs = tool_execs(progress_log)
    assert execs == [("syft", 6.7), ("cosign", 62.5), ("trivy", 0.45), ("cosign", 3.1)]
    assert seconds_by_tool(execs) == {"cosign": 65.6, "syft": 6.7, "trivy": 0.45}


def test_a_tool_containers_commands_are_read_once_each(progress_log: Path) -> None:
    """toolrun's commands inside one tool container: each named once with its own time."""
    assert tool_commands(progress_log) == [("0-sign", 0.37), ("1-sign", 0.41), ("attest-0-index", 0.45), ("attest-0-linux/amd64", 0.52)]


def test_the_tool_commands_cpu_is_summed_once_each(progress_log: Path) -> None:
    """toolrun's `(Cs CPU)`: counted once per command, 0 for a line without it (an older toolrun)."""
    assert tool_cpu_seconds(progress_log) == 0.67


def test_the_engine_version_is_the_one_the_session_reported(progress_log: Path) -> None:
    assert engine_version(progress_log) == "v0.19.10"


@pytest.mark.parametrize(("text", "seconds"), [("0.5s", 0.5), ("1m2.3s", 62.3), ("1h2m", 3720), ("120ms", 0.12), ("7m", 420)])
def test_engine_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_a_figure_is_the_median_with_its_spread() -> None:
    assert spread("release_warm_s", [30.0, 10.0, 20.0]) == {"release_warm_s": 20.0, "release_warm_s_min": 10.0, "release_warm_s_max": 30.0}
    assert spread("nothing", []) == {}


def test_steps_keep_their_order_and_missing_steps_do_not_count_as_zero() -> None:
    runs = [{"build": 3.0, "push": 1.0}, {"build": 5.0, "push": 2.0, "sign": 4.0}, {"build": 4.0, "push": 9.0}]
    assert median_steps(runs) == {"build": 4.0, "push": 2.0, "sign": 4.0}


def test_a_client_process_reports_its_exit_code_output_and_peak_memory() -> None:
    # about 50 MiB held at once: the peak resident memory must see it
    proc = run_process([sys.executable, "-c", "import sys; b = bytearray(50 * 2**20); print('ok'); sys.exit(3)"])
    assert proc.returncode == 3 and proc.stdout.strip() == "ok"
    assert proc.max_rss_mib > 50 and proc.wall_s > 0


def test_the_marginal_cost_is_the_worst_step_per_added_unit() -> None:
    """1 → 2 → 4 registries: the 2 → 4 step counts per registry added, as a share of the 2-registry release."""
    from bench.run import marginal_costs

    rows = {"1": {"release_s": 10.0, "tool_containers": 3}, "2": {"release_s": 11.0, "tool_containers": 3},
            "4": {"release_s": 14.0, "tool_containers": 3}}  # fmt: skip
    expected = {"marginal_registry_s": 1.5, "marginal_registry_pct": 13.6, "marginal_registry_containers": 0}
    assert marginal_costs(rows, "registry") == expected
