"""The benchmark's results as JSON, a Markdown page (the table and how each figure is measured)
and a PNG chart (matplotlib, the optional ``bench`` extra)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

# the release's steps in the order they run (the seed's build+push sits with build+assemble)
STEP_ORDER = ["build+assemble", "build+push", "push", "sbom", "scan", "smoke", "attest", "provenance", "sign", "promote", "verify"]

# name, unit, goal, how it is measured
FIGURES: list[tuple[str, str, str, str]] = [
    ("release_cold_s", "s", "",
     "`shipyard publish` of the fixture (3 platforms, registries A and B, `--sign key`, `--sbom spdx-json`, `--provenance`, "
     "`--scan-fail-on CRITICAL,HIGH` with the stack's synthetic CVE accepted), wall time of the client process, after "
     "`ci/stack reset-engine` wiped the engine's cache; a fresh repository each run"),
    ("release_warm_s", "s", "",
     "the same release with the engine's cache warm (after the cold runs, or one untimed warm-up); a fresh repository each run, "
     "so everything is still pushed, signed, attested and scanned"),
    ("verify_warm_s", "s", "", "`shipyard verify --ref A/…:1.2.3 --key cosign.pub` of that release (signatures, attestations, re-scan)"),
    ("verify_cold_s", "s", "", "the same after a cold release"),
    ("seed_sequential_s", "s", "",
     "bench/seed_workflow.py, the seed `release-docker.yml`'s steps one after another in its order, same engine and tool images: "
     "Dockerfile build per platform + `Container.publish(platform_variants=…)` to A then B; syft on the index + `cosign attest` "
     "per registry; `cosign sign` per registry; trivy on linux/amd64. Wall time of its process, run right after each warm release"),
    ("speedup_vs_seed", "×", "≥ 1", "`seed_sequential_s / release_warm_s` (medians; min/max over the paired runs)"),
    ("seed_same_work_s", "s", "",
     "bench/seed_workflow.py --same-work: the seed's way (one step after another, one tool container per operation, as its "
     "shell runs them) doing the warm release's full work: build + `Container.publish` to A then B; syft on each platform's "
     "manifest; `cosign attest` of each platform's SBOM to that platform and to the index in each registry; SLSA provenance "
     "attested to the index in each registry; `cosign sign --recursive` in each registry; trivy with the gate on every "
     "platform. Wall time of its process, run right after each warm release (and its `seed_sequential_s` run)"),
    ("speedup_same_work", "×", "≥ 2", "`seed_same_work_s / release_warm_s` (medians; min/max over the paired runs)"),
    ("tool_containers", "", "≤ 2 × registries + 2 = 6",
     "tool container execs (cosign, syft, trivy, crane, probe) in the warm release, from its engine progress log "
     "(each `withExec` of a tool image; toolrun's single exec per tool container counts once)"),
    ("go_build_cross_s", "s", "",
     "bench/qemu_vs_cross.py: `go build` of the fixture for linux/arm64 in the stack's amd64 Go image with `GOARCH=arm64` "
     "(what the fixture's `FROM --platform=$BUILDPLATFORM` stage does); everything before it cached, the build step itself "
     "cache-busted, empty Go build cache"),
    ("go_build_qemu_s", "s", "",
     "the same `go build` in an arm64 Go image (stack base for linux/arm64 + the official linux-arm64 toolchain) under QEMU"),
    ("qemu_vs_cross", "×", "", "`go_build_qemu_s / go_build_cross_s`"),
    ("unique_content_bytes", "B", "", "the release's unique content (`size` in the report: every blob and manifest once)"),
    ("first_bytes_uploaded", "B", "≈ unique content (±0.1 %)",
     "request-body bytes a counting proxy (tests/integration/faults.py FaultyProxy) in front of each of A and B received "
     "during the first publish of the image (no signing/SBOM/scan, so the figure is the image's); the larger of the two registries"),
    ("rerun_bytes_uploaded", "B", "0", "the same during an unchanged re-run of that publish"),
    ("rerun_s", "s", "< 10", "wall time of that re-run"),
    ("tool_exec_sum_s", "s", "",
     "sum of the durations of every tool container exec (cosign, syft, trivy, crane, probe) in the warm release, read from the "
     "`Container.withExec DONE [duration]` lines of the engine progress log publish writes to `<out>/engine.log`"),
    ("overhead_ratio", "×", "",
     "`release_warm_s / tool_exec_sum_s`. Tools run concurrently, so below 1 means the release took less wall time than its tools' "
     "summed run time; the rest of the wall time (session, build, assembly, push, registry calls) is Shipyard's and the engine's"),
    ("tool_cpu_s", "s", "",
     "CPU time (user + system) of every tool command in the warm release, as toolrun reports it for each "
     "(`toolrun: NAME: exit 0 in 1.53s (1.48s CPU)` in the progress log): the work the machine's cores must do, however it is "
     "scheduled"),
    ("marginal_registry_s", "s", "",
     "what one more registry adds to the full release (3 platforms), from the `scaling` registries rows: the largest of "
     "(t₂ − t₁) and (t₄ − t₂)/2, medians"),
    ("marginal_registry_pct", "%", "≤ 20", "that cost as a share of the smaller release of its pair: (t₂ − t₁)/t₁, (t₄ − t₂)/2/t₂"),
    ("marginal_registry_containers", "", "", "tool containers one more registry adds (same pairs)"),
    ("marginal_platform_s", "s", "",
     "what one more platform adds to the full release (registry A), from the `scaling` platforms rows (1→2, 2→3), the larger"),
    ("marginal_platform_pct", "%", "", "that cost as a share of the smaller release of its pair"),
    ("marginal_platform_containers", "", "", "tool containers one more platform adds"),
    ("client_max_rss_mib", "MiB", "",
     "peak resident memory (`ru_maxrss` from `os.wait4`) of the `shipyard publish` process in the warm releases; the `dagger "
     "session` child process is not included"),
    ("client_max_rss_mib_peak", "MiB", "", "the largest of every publish in this run (scaling runs included)"),
    ("engines_one_s", "s", "",
     "`shipyard publish` of a fresh copy of the fixture (a comment added to main.go: its build steps run, the image is the same) "
     "for linux/amd64 and linux/arm64, the image alone, to registry A, on the default engine; wall time"),
    ("engines_two_s", "s", "",
     "the same with `--builder linux/arm64=<the ci/stack builder engine>`: arm64 built on a second engine on the same machine "
     "(same 2 cores; it still emulates arm64 RUN steps with QEMU, as a native arm64 machine would not)"),
    ("engines_one_build_s", "s", "", "the report's `build+assemble` time of the one-engine release"),
    ("engines_two_build_s", "s", "", "the same for the two-engine release (the builder's session, build and export included)"),
    ("engines_two_vs_one", "×", "", "`engines_two_s / engines_one_s`: below 1, the split release was faster"),
    ("cache_release_cold_s", "s", "",
     "bench `cache` section: `shipyard publish` of tests/fixtures/cache-app (linux/arm64 and linux/arm/v7; its RUN step hashes "
     "1024 MiB with the target's own sha256sum under QEMU), the image alone, to registry A, on the `ci/stack runner` engine "
     "right after `ci/stack runner reset` (an empty engine, as on a new CI runner), with `--cache-to`; wall time minus "
     "the report's `cache_export` (the session's close, when the engine exports): the release without a cache"),
    ("cache_export_s", "s", "", "the report's `timings.cache_export` of that release: what exporting the cache (mode=max) to A cost"),
    ("release_cold_cache_s", "s", "",
     "the same release after another `ci/stack runner reset`, with `--cache-from` the cache the first one exported: wall time"),
    ("cache_release_warm_s", "s", "", "the same release once more on the now warm runner engine, without cache options"),
    ("release_cold_cache_ratio", "×", "≤ 0.5", "`release_cold_cache_s / cache_release_cold_s` (medians; min/max over the paired runs)"),
]  # fmt: skip


# whether a figure meets its goal (issue #19); None when it cannot be told
GOALS: dict[str, Callable[[dict[str, Any]], bool | None]] = {
    "speedup_vs_seed": lambda r: r["speedup_vs_seed"] >= 1,
    "speedup_same_work": lambda r: r["speedup_same_work"] >= 2,
    "tool_containers": lambda r: r["tool_containers"] <= 6,
    "marginal_registry_pct": lambda r: r["marginal_registry_pct"] <= 20,
    "first_bytes_uploaded": lambda r: (
        r["first_bytes_uploaded"] <= 1.001 * r["unique_content_bytes"] if "unique_content_bytes" in r else None
    ),
    "rerun_bytes_uploaded": lambda r: r["rerun_bytes_uploaded"] == 0,
    "rerun_s": lambda r: r["rerun_s"] < 10,
    "release_cold_cache_ratio": lambda r: r["release_cold_cache_ratio"] <= 0.5,
}


def _goal(name: str, goal: str, result: dict[str, Any]) -> str:
    met = GOALS[name](result) if name in GOALS else None
    return goal if met is None else f"{goal}: {'met' if met else '**not met**'}"


def _in_step_order(steps: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(steps.items(), key=lambda item: STEP_ORDER.index(item[0]) if item[0] in STEP_ORDER else len(STEP_ORDER))


def _value(value: Any, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "B":
        return f"{int(value):,}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_markdown(result: dict[str, Any]) -> str:
    lines: list[str] = []
    quick = result["kind"] == "quick"
    lines.append("# Shipyard benchmarks" + (" — QUICK RUN (validation only, not the benchmark)" if quick else ""))
    lines.append("")
    if quick:
        lines.append(
            "> **Quick run:** one run per figure, no cold runs, no warm-up, on a machine shared with other jobs. "
            "The figures below only show that the benchmark works; run it without `--quick` for the real ones."
        )
        lines.append("")
    m = result["machine"]
    lines.append(f"Produced by `{result['command']}` on {result['date']} in {result['duration_s']} s.")
    for section, run in (result.get("runs_by_section") or {}).items():
        lines.append(f"- section `{section}`: `{run['command']}` on {run['date']} (runs: {run['runs']}; {run['duration_s']} s)")
    lines.append("")
    lines.append(
        f"Machine: {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), {m['memory_gib']} GiB, kernel {m['kernel']}, "
        f"Dagger engine {m['engine_version']}, Python {m['python']}; load average at start {m['load_average_at_start']}"
        + (f", at the end {m['load_average_at_end']}." if m.get("load_average_at_end") else ".")
    )
    if result.get("runs_by_section"):
        lines.append("Runs per figure: as its section's line above says (median, with min and max).")
    else:
        lines.append(f"Runs per figure: {result['runs']} (median, with min and max); cold runs: {'yes' if result['cold'] else 'no'}.")
    lines.append("")
    lines.append("| figure | median | min | max | goal |")
    lines.append("|---|---|---|---|---|")
    for name, unit, goal, _ in FIGURES:
        if name not in result:
            continue
        low, high = result.get(f"{name}_min"), result.get(f"{name}_max")
        row = f"| `{name}` | {_value(result[name], unit)} {unit} | {_value(low, unit)} | {_value(high, unit)}"
        lines.append(f"{row} | {_goal(name, goal, result)} |")
    details = result["details"]
    breakdowns = [("Warm release, per step (s)", "release_warm_steps", "the report's `timings`"),
                  ("Cold release, per step (s)", "release_cold_steps", "the report's `timings`"),
                  ("Seed workflow, per step (s)", "seed_steps", "the script's own clock"),
                  ("Seed workflow doing the same work, per step (s)", "seed_same_work_steps", "the script's own clock"),
                  ("Tool containers in the warm release (s)", "tool_exec_s", "its progress log"),
                  ("Tool containers in the seed workflow (s)", "seed_tool_exec_s", "its progress log"),
                  ("Tool containers in the seed workflow, same work (s)", "seed_same_work_tool_exec_s", "its progress log")]  # fmt: skip
    for title, key, source in breakdowns:
        if details.get(key):
            lines += ["", f"**{title}**, medians, from {source}: " + ", ".join(f"{k} {v:g}" for k, v in _in_step_order(details[key]))]
    if "seed_sequential_s" in result and details.get("tool_execs"):
        commands = f", {details['tool_commands']} tool commands in them" if details.get("tool_commands") else ""
        by_tool = ", ".join(f"{n} {t}" for t, n in details.get("tool_containers_by_tool", {}).items())
        lines += [
            "",
            f"**Work compared:** the warm release ran {details['tool_execs']} tool container execs ({by_tool}{commands}; "
            f"{sum(details['tool_exec_s'].values()):.1f} s of container time): an SBOM per platform, attested to each platform "
            "and to the index in both registries, provenance, a recursive signature, the scan gate on every platform. "
            f"The seed workflow ran {details.get('seed_tool_execs', '?')} "
            f"({sum(details.get('seed_tool_exec_s', {}).values()):.1f} s): one SBOM of the index's default platform per "
            "registry, the index signed alone, one platform scanned. Doing the release's work its way, it ran "
            f"{details.get('seed_same_work_tool_execs', '?')} ({sum(details.get('seed_same_work_tool_exec_s', {}).values()):.1f} s).",
        ]
    scaling = [("platforms", "scaling_platforms", "to registry A"),
               ("registries", "scaling_registries",
                "3 platforms; each registry a counting proxy in front of A, a cost of its own: compare within the series")]  # fmt: skip
    for column, key, how in scaling:
        if details.get(key):
            lines += ["", f"**Scaling with {column}** (the full release, {how}):", ""]
            lines.append(f"| {column} | release (s) | min | max | tool containers |")
            lines.append("|---|---|---|---|---|")
            for count, row in details[key].items():
                containers = _value(row.get("tool_containers"), "")
                lines.append(f"| {count} | {row['release_s']} | {row['release_s_min']} | {row['release_s_max']} | {containers} |")
    lines += ["", "## How each figure is measured", ""]
    for name, _, _, method in FIGURES:
        if name in result:
            lines.append(f"- `{name}`: {method}.")
    lines += [
        "- Scaling: the full release of `release_warm_s` for 1, 2, 3 platforms (linux/amd64, then arm64, then arm/v7) to registry A, "
        "and for 1, 2, 4 registries (3 platforms), each registry a separate counting proxy (its own host:port) in front of A.",
        "",
        "Every command gets every step's flags explicitly, so the figures do not move when defaults change. Repositories are "
        "fresh per run. `latest.json` holds every figure with its `_min`/`_max`, the per-step medians (`details`) and the machine.",
    ]
    if result["errors"]:
        lines += ["", "## Errors", ""] + [f"- {e}" for e in result["errors"]]
    return "\n".join(lines) + "\n"


def render_chart(result: dict[str, Any], path: Path) -> bool:
    """Three panels: release vs seed (stacked steps), scaling, QEMU vs cross. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    details = result["details"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5))
    bars = [("release cold", "release_cold_steps", "release_cold_s"), ("release warm", "release_warm_steps", "release_warm_s"),
            ("seed workflow", "seed_steps", "seed_sequential_s"),
            ("seed, same work", "seed_same_work_steps", "seed_same_work_s")]  # fmt: skip
    bars = [bar for bar in bars if bar[2] in result]
    labels = [label for label, _, _ in bars]
    colors = {step: f"C{i}" for i, step in enumerate(STEP_ORDER)}
    shown: set[str] = set()
    for y, (_, steps_key, total_key) in enumerate(bars):
        left = 0.0
        for step, seconds in _in_step_order(details.get(steps_key, {})):
            ax1.barh(y, seconds, left=left, color=colors.get(step, "grey"), label=None if step in shown else step)
            shown.add(step)
            left += seconds
        ax1.plot([result[total_key]], [y], "k|", markersize=24)
        ax1.text(result[total_key], y + 0.3, f"{result[total_key]:.1f} s", fontsize=8)
    ax1.set_yticks(range(len(labels)), labels)
    ax1.set_xlabel("seconds (bars: steps; tick: wall time)")
    ax1.set_title("Full release vs the seed workflow")
    if shown:
        ax1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for key, label in (("scaling_platforms", "platforms (1 registry)"), ("scaling_registries", "registries (3 platforms)")):
        rows = details.get(key)
        if rows:
            xs = [int(k) for k in rows]
            ys = [r["release_s"] for r in rows.values()]
            errors = [
                [r["release_s"] - r["release_s_min"] for r in rows.values()],
                [r["release_s_max"] - r["release_s"] for r in rows.values()],
            ]
            ax2.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=label)
    if not (details.get("scaling_platforms") or details.get("scaling_registries")):
        ax2.set_axis_off()
    ax2.set_xticks([1, 2, 3, 4])
    ax2.set_xlabel("count")
    ax2.set_ylabel("release wall time (s)")
    ax2.set_title("Scaling")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=8)
    if "go_build_qemu_s" in result:
        ax3.bar(["cross-compiled", "QEMU"], [result["go_build_cross_s"], result["go_build_qemu_s"]], color=["tab:green", "tab:red"])
        ax3.set_title(f"go build for linux/arm64: {result['qemu_vs_cross']}× slower under QEMU")
        ax3.set_ylabel("seconds")
    else:
        ax3.set_axis_off()
    title = f"Shipyard benchmarks, {result['date']}, {result['machine']['cores']} cores"
    fig.suptitle(title + (" — QUICK RUN (1 run, no cold runs; validation only)" if result["kind"] == "quick" else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_results(result: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "latest.json", folder / "latest.md"]
    written[0].write_text(json.dumps(result, indent=2) + "\n")
    written[1].write_text(render_markdown(result))
    if render_chart(result, folder / "latest.png"):
        written.append(folder / "latest.png")
    else:
        print("bench: no chart (matplotlib is missing: pip install -e '.[bench]')")
    return written
