"""Benchmark: an unchanged release published again (issue #14's benchmark note).

Publishes the fixture app for three platforms to the stack's registry A through a counting proxy,
then publishes the same release again, and reports each run's wall time and the bytes the
registry received (request bodies). Goal: the warm re-run uploads 0 bytes.

    eval "$(bash ci/stack env)" && .venv/bin/python bench/rerun.py [--runs 3]

Writes bench/results/rerun.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.faults import FaultyProxy  # noqa: E402  (the same proxy the tests use, counting only)

PLATFORMS = "linux/amd64,linux/arm64,linux/arm/v7"


def publish(target: str, out: Path) -> tuple[float, dict[str, object]]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "publish", "--tag", "v1.2.3", "--source", str(ROOT / "tests" / "fixtures" / "app"),
         "--platform", PLATFORMS, "--target", target, "--source-date-epoch", "1700000000", "--out", str(out), "--json",
         "--no-sbom", "--no-provenance", "--no-scan"],  # the push alone: what a re-run sends
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.monotonic() - started, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    registry = os.environ["SHIPYARD_REGISTRY_A"]
    rows = []
    for run in range(args.runs):
        with FaultyProxy(registry) as proxy, tempfile.TemporaryDirectory() as tmp:
            target = f"{proxy.address}/bench/rerun-{uuid.uuid4().hex[:8]}"
            first_time, first = publish(target, Path(tmp) / "1")
            first_bytes, proxy.received = proxy.received, 0
            again_time, again = publish(target, Path(tmp) / "2")
            assert again["digest"] == first["digest"]
            rows.append({"run": run + 1, "first_s": first_time, "first_bytes": first_bytes, "unique_bytes": first["size"],
                         "rerun_s": again_time, "rerun_bytes": proxy.received})  # fmt: skip
    summary = {
        "machine": {"cores": os.cpu_count(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "runs": rows,
        "rerun_s": {
            "median": statistics.median(r["rerun_s"] for r in rows),
            "min": min(r["rerun_s"] for r in rows),
            "max": max(r["rerun_s"] for r in rows),
        },
        "rerun_bytes_max": max(r["rerun_bytes"] for r in rows),
    }
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "rerun.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("| run | first publish (s) | bytes received | unique content | re-run (s) | re-run bytes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['first_s']:.1f} | {r['first_bytes']} | {r['unique_bytes']} | {r['rerun_s']:.1f} | {r['rerun_bytes']} |")


if __name__ == "__main__":
    main()
