"""Shipyard's benchmarks against the test stack (issue #19): one command, one set of results.

    eval "$(bash ci/stack env)" && .venv/bin/python -m bench              # the full run: 3 runs each, with cold runs
    .venv/bin/python -m bench --quick                                     # 1 run each, no cold runs (validation)
    .venv/bin/python -m bench --runs 5 --only release,seed                # some sections

Sections (``--only``): ``release`` (a full release cold and warm, its steps, ``shipyard verify``,
the tool-time overhead and the client's peak memory), ``seed`` (the seed workflow's way, side
by side with warm releases), ``qemu`` (emulated vs cross-compiled Go build), ``bytes`` (bytes
each registry receives, first publish and unchanged re-run), ``scaling`` (1-3 platforms, 1-4
registries), ``engines`` (a 2-platform release on one engine vs split across two, arm64 on the
``ci/stack builder`` engine), ``cache`` (the build cache on a new runner: the cache fixture cold without a
cache, cold with it imported from registry A, warm, and what the export costs; on the ``ci/stack runner``
engine, wiped before each cold run, never the shared one). Writes bench/results/latest.{json,md,png}. Cold runs wipe the shared engine's
cache (``ci/stack reset-engine``) before each run: on by default, off with ``--quick`` or
``--no-cold``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.integration.faults import FaultyProxy  # the proxy the failure tests use; here it only counts

from bench.measure import (
    ProcessRun,
    engine_version,
    median_steps,
    run_process,
    seconds_by_tool,
    spread,
    tool_commands,
    tool_cpu_seconds,
    tool_execs,
)
from bench.output import write_results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIXTURE = ROOT / "tests" / "fixtures" / "app"
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
EPOCH = "1700000000"
COSIGN_PASSWORD_ENV = "SHIPYARD_BENCH_COSIGN_PASSWORD"
# The stack's base image carries a synthetic advisory, accepted the way a real project would.
ACCEPTED = "CVE-2099-0001\n"
SECTIONS = ("release", "seed", "qemu", "bytes", "scaling", "engines", "cache")
CACHE_FIXTURE = ROOT / "tests" / "fixtures" / "cache-app"
ALIASES = {"overhead": "release", "memory": "release", "verify": "release", "rerun": "bytes"}


class BenchError(Exception):
    """A command a benchmark depends on failed; the message says which and why."""


@dataclass(frozen=True)
class Stack:
    """What ``ci/stack env`` exports: the registries, the stack's images, the tools."""

    env: dict[str, str]
    registry_a: str
    registry_b: str
    username_b: str
    password_file_b: str
    images: dict[str, str]
    bin: Path

    @classmethod
    def from_environment(cls) -> Stack:
        proc = subprocess.run(["bash", str(ROOT / "ci" / "stack"), "env", "--json"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"the test stack is not up ({proc.stderr.strip()[-300:]}): run `bash ci/stack up` first")
        env: dict[str, str] = json.loads(proc.stdout)
        return cls(
            env={**os.environ, **env},
            registry_a=env["SHIPYARD_REGISTRY_A"],
            registry_b=env["SHIPYARD_REGISTRY_B"],
            username_b=env["SHIPYARD_REGISTRY_B_USERNAME"],
            password_file_b=env["SHIPYARD_REGISTRY_B_PASSWORD_FILE"],
            images=json.loads(Path(env["SHIPYARD_STACK_IMAGES"]).read_text()),
            bin=Path(env["SHIPYARD_STACK_BIN"]),
        )


@dataclass
class Bench:
    """The benchmark's inputs (stack, keys, ignore file) and the options of this invocation."""

    stack: Stack
    work: Path
    runs: int
    quick: bool
    cold: bool
    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    publish_help: str = ""
    load_at_start: list[float] = field(default_factory=lambda: [round(x, 2) for x in os.getloadavg()])
    with_b_credentials: set[str] = field(default_factory=set)  # registry B's address and the proxies in front of it

    @property
    def env(self) -> dict[str, str]:
        return {**self.stack.env, COSIGN_PASSWORD_ENV: "shipyard-bench"}

    @property
    def key(self) -> Path:
        return self.work / "cosign.key"

    @property
    def pub(self) -> Path:
        return self.work / "cosign.pub"

    @property
    def trivyignore(self) -> Path:
        return self.work / ".trivyignore"

    def prepare(self) -> None:
        keygen = {**self.env, "COSIGN_PASSWORD": self.env[COSIGN_PASSWORD_ENV]}
        subprocess.run([str(self.stack.bin / "cosign"), "generate-key-pair"], cwd=self.work, env=keygen, capture_output=True, check=True)
        self.trivyignore.write_text(ACCEPTED)
        self.publish_help = subprocess.run(
            [sys.executable, "-m", "shipyard", "publish", "--help"], capture_output=True, text=True, env=self.env, check=True
        ).stdout

    def scratch(self, name: str) -> Path:
        path = self.work / f"{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        return path

    # --- Shipyard -------------------------------------------------------------------------

    def publish_args(
        self, targets: list[str], platforms: tuple[str, ...], out: Path, *, everything: bool = True, source: Path = FIXTURE
    ) -> list[str]:
        """``shipyard publish`` of the fixture. Every step's flags are given explicitly (the
        defaults change between releases); ``everything=False`` is the image alone."""
        args = ["--tag", "v1.2.3", "--source", str(source), "--sha", SHA, "--source-date-epoch", EPOCH, "--platform", ",".join(platforms)]
        args += ["--build-arg", f"GOLANG_IMAGE={self.stack.images['golang']}", "--build-arg", f"BASE_IMAGE={self.stack.images['base']}"]
        for target in targets:
            args += ["--target", target]
            registry = target.split("/", 1)[0]
            if registry == self.stack.registry_b or registry in self.with_b_credentials:
                args += ["--registry-auth", f"{registry}={self.stack.username_b}:file:{self.stack.password_file_b}"]
        if everything:
            args += ["--sign", "key", "--cosign-key", f"file:{self.key}", "--cosign-password", f"env:{COSIGN_PASSWORD_ENV}"]
            args += ["--sbom", "spdx-json", "--provenance", "--scan-fail-on", "CRITICAL,HIGH", "--trivyignore", str(self.trivyignore)]
        else:
            args += [flag for flag in ("--no-sbom", "--no-provenance", "--no-scan") if flag in self.publish_help]
        return [*args, "--out", str(out), "--json"]

    def publish(
        self,
        targets: list[str],
        platforms: tuple[str, ...] = PLATFORMS,
        *,
        everything: bool = True,
        source: Path = FIXTURE,
        extra: tuple[str, ...] = (),
        environment: dict[str, str] | None = None,
    ) -> Release:
        out = self.scratch("out")
        args = self.publish_args(targets, platforms, out, everything=everything, source=source)
        cmd = [sys.executable, "-m", "shipyard", "publish", *args, *extra]
        proc = run_process(cmd, {**self.env, **(environment or {})})
        report = _json_of(proc, "shipyard publish")
        if proc.returncode != 0 or not report.get("ok"):
            raise BenchError(f"shipyard publish failed ({proc.returncode}): {report.get('error') or proc.stderr[-1500:]}")
        self.rss.append(proc.max_rss_mib)
        return Release(proc=proc, report=report, out=out)

    def verify(self, reference: str) -> ProcessRun:
        out = self.scratch("verify")
        cmd = [sys.executable, "-m", "shipyard", "verify", "--ref", reference, "--key", str(self.pub), "--scan-fail-on", "CRITICAL,HIGH",
               "--trivyignore", str(self.trivyignore), "--out", str(out), "--json"]  # fmt: skip
        proc = run_process(cmd, self.env)
        if proc.returncode != 0:
            raise BenchError(f"shipyard verify {reference} failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        return proc

    def seed(self, repository: str, *, same_work: bool = False) -> tuple[ProcessRun, dict[str, Any]]:
        """The seed workflow's way (bench/seed_workflow.py); ``same_work``: doing Shipyard's full work."""
        log = self.scratch("seed") / "engine.log"
        registry_b = f"{self.stack.registry_b}={self.stack.username_b}:{self.stack.password_file_b}"
        cmd = [sys.executable, "-m", "bench.seed_workflow", "--registry", self.stack.registry_a, "--registry", registry_b,
               "--repository", repository, "--key", str(self.key), "--password-env", COSIGN_PASSWORD_ENV,
               "--trivyignore", str(self.trivyignore), "--log", str(log),
               "--build-arg", f"GOLANG_IMAGE={self.stack.images['golang']}",
               "--build-arg", f"BASE_IMAGE={self.stack.images['base']}"]  # fmt: skip
        proc = run_process([*cmd, *(["--same-work"] if same_work else [])], self.env)
        data = _json_of(proc, "the seed workflow")
        if proc.returncode != 0:
            raise BenchError(f"the seed workflow failed ({proc.returncode}): {proc.stderr[-1500:]}")
        return proc, {**data, "execs": tool_execs(log)}

    def reset_engine(self) -> None:
        """Wipe the engine's cache (a cold start). Disrupts everyone sharing the engine."""
        proc = subprocess.run(["bash", str(ROOT / "ci" / "stack"), "reset-engine"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"ci/stack reset-engine failed: {proc.stderr[-1000:]}")

    def repo(self, registry: str, name: str) -> str:
        return f"{registry}/bench/{name}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Release:
    proc: ProcessRun
    report: dict[str, Any]
    out: Path

    @property
    def timings(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.report.get("timings", {}).items()}


def _json_of(proc: ProcessRun, what: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise BenchError(f"{what} printed no JSON (exit {proc.returncode}): {proc.stdout[-800:]}{proc.stderr[-1500:]}") from None
    if proc.returncode != 0 and "ok" not in data:
        raise BenchError(f"{what} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return data


# --- sections -------------------------------------------------------------------------------


def full_release(bench: Bench, name: str) -> tuple[Release, ProcessRun]:
    """Section 1's release: 3 platforms, registries A and B, signed, SBOM, provenance, scan; then verify."""
    a, b = bench.repo(bench.stack.registry_a, name), bench.repo(bench.stack.registry_b, name)
    release = bench.publish([a, b])
    return release, bench.verify(f"{a}:1.2.3")


def release_and_seed(bench: Bench, *, release: bool, seed: bool) -> None:
    """Sections 1, 2, 5 and 6 (memory): cold releases, then warm releases alternating with the seed workflow."""
    if release and bench.cold:
        cold: list[Release] = []
        verify_cold: list[float] = []
        for _ in range(bench.runs):
            bench.reset_engine()
            done, verified = full_release(bench, "cold")
            cold.append(done)
            verify_cold.append(verified.wall_s)
        bench.figures |= spread("release_cold_s", [r.proc.wall_s for r in cold]) | spread("verify_cold_s", verify_cold)
        bench.details["release_cold_steps"] = median_steps([r.timings for r in cold])
    elif not bench.quick:
        full_release(bench, "warm-up")  # untimed: the build cache is warm from here on
    warm: list[Release] = []
    verify_warm: list[float] = []
    seeds: list[tuple[ProcessRun, dict[str, Any]]] = []
    same: list[tuple[ProcessRun, dict[str, Any]]] = []
    for _ in range(bench.runs):  # each warm release right before the two seed runs it is compared with
        done, verified = full_release(bench, "warm")
        warm.append(done)
        verify_warm.append(verified.wall_s)
        if seed:
            seeds.append(bench.seed(f"bench/seed-{uuid.uuid4().hex[:8]}"))
            same.append(bench.seed(f"bench/seed-same-{uuid.uuid4().hex[:8]}", same_work=True))
    bench.figures |= spread("release_warm_s", [r.proc.wall_s for r in warm]) | spread("verify_warm_s", verify_warm)
    bench.details["release_warm_steps"] = median_steps([r.timings for r in warm])
    bench.details["engine_version"] = engine_version(warm[0].out / "engine.log")
    if seed:
        bench.figures |= spread("seed_sequential_s", [p.wall_s for p, _ in seeds])
        bench.details["seed_steps"] = median_steps([data["timings"] for _, data in seeds])
        bench.details["seed_tool_exec_s"] = median_steps([seconds_by_tool(data["execs"]) for _, data in seeds])
        bench.details["seed_tool_execs"] = len(seeds[0][1]["execs"])
        bench.figures |= spread("speedup_vs_seed", [p.wall_s / r.proc.wall_s for (p, _), r in zip(seeds, warm, strict=True)], 2)
        bench.figures["speedup_vs_seed"] = round(bench.figures["seed_sequential_s"] / bench.figures["release_warm_s"], 2)
        bench.figures |= spread("seed_same_work_s", [p.wall_s for p, _ in same])
        bench.details["seed_same_work_steps"] = median_steps([data["timings"] for _, data in same])
        bench.details["seed_same_work_tool_exec_s"] = median_steps([seconds_by_tool(data["execs"]) for _, data in same])
        bench.details["seed_same_work_tool_execs"] = len(same[0][1]["execs"])
        bench.figures |= spread("speedup_same_work", [p.wall_s / r.proc.wall_s for (p, _), r in zip(same, warm, strict=True)], 2)
        bench.figures["speedup_same_work"] = round(bench.figures["seed_same_work_s"] / bench.figures["release_warm_s"], 2)
    # Section 5: the release's wall time over the time its tool containers ran.
    execs = [tool_execs(r.out / "engine.log") for r in warm]
    tools = [seconds_by_tool(e) for e in execs]
    bench.details["tool_exec_s"] = median_steps(tools)
    bench.details["tool_execs"] = len(execs[0])
    bench.figures |= spread("tool_containers", [len(e) for e in execs], 0)
    bench.details["tool_containers_by_tool"] = {t: sum(1 for name, _ in execs[0] if name == t) for t in sorted({n for n, _ in execs[0]})}
    bench.details["tool_commands"] = len(tool_commands(warm[0].out / "engine.log"))
    bench.figures |= spread("tool_exec_sum_s", [sum(t.values()) for t in tools])
    bench.figures |= spread("tool_cpu_s", [tool_cpu_seconds(r.out / "engine.log") for r in warm])
    bench.figures |= spread("overhead_ratio", [r.proc.wall_s / sum(t.values()) for r, t in zip(warm, tools, strict=True)], 2)
    # Section 6: the client's peak memory.
    bench.figures |= spread("client_max_rss_mib", [r.proc.max_rss_mib for r in warm], 1)


def qemu_vs_cross(bench: Bench) -> None:
    """Section 3: the fixture's Go build for arm64 under QEMU vs cross-compiled."""
    qemu: list[float] = []
    cross: list[float] = []
    for _ in range(bench.runs):
        proc = run_process([sys.executable, "-m", "bench.qemu_vs_cross", "--log", str(bench.scratch("qemu") / "engine.log")], bench.env)
        data = _json_of(proc, "bench.qemu_vs_cross")
        qemu.append(data["qemu_s"])
        cross.append(data["cross_s"])
    bench.figures |= spread("go_build_qemu_s", qemu) | spread("go_build_cross_s", cross)
    bench.figures |= spread("qemu_vs_cross", [q / c for q, c in zip(qemu, cross, strict=True)], 2)
    bench.figures["qemu_vs_cross"] = round(bench.figures["go_build_qemu_s"] / bench.figures["go_build_cross_s"], 2)


def bytes_uploaded(bench: Bench) -> None:
    """Section 4: what each registry receives, the first time and on an unchanged re-run."""
    first: list[int] = []
    again: list[int] = []
    rerun_s: list[float] = []
    unique: list[int] = []
    per_registry: list[dict[str, dict[str, int]]] = []
    for _ in range(bench.runs):
        with FaultyProxy(bench.stack.registry_a) as proxy_a, FaultyProxy(bench.stack.registry_b) as proxy_b:
            bench.with_b_credentials.add(proxy_b.address)
            name = f"rerun-{uuid.uuid4().hex[:8]}"
            targets = [f"{proxy_a.address}/bench/{name}", f"{proxy_b.address}/bench/{name}"]
            proxies = {"A": proxy_a, "B": proxy_b}
            fresh = {"XDG_CACHE_HOME": str(bench.scratch("cache"))}  # a first push from a fresh runner: nothing to mount from
            one = bench.publish(targets, everything=False, environment=fresh)
            sent_first = {label: p.received for label, p in proxies.items()}
            for p in proxies.values():
                p.received = 0
            two = bench.publish(targets, everything=False, environment=fresh)
            if two.report["digest"] != one.report["digest"]:
                raise BenchError(f"the re-run published {two.report['digest']}, the first run {one.report['digest']}")
            sent_again = {label: p.received for label, p in proxies.items()}
        first.append(max(sent_first.values()))
        again.append(max(sent_again.values()))
        rerun_s.append(two.proc.wall_s)
        unique.append(int(one.report["size"]))
        per_registry.append({"first": sent_first, "rerun": sent_again})
    bench.figures |= spread("first_bytes_uploaded", first, 0) | spread("rerun_bytes_uploaded", again, 0) | spread("rerun_s", rerun_s)
    bench.figures["unique_content_bytes"] = max(unique)
    bench.details["bytes_per_registry"] = per_registry


def scaling(bench: Bench) -> None:
    """Section 6: release time for 1, 2, 3 platforms (registry A) and 1, 2, 4 registries (3 platforms)."""
    platforms: dict[str, dict[str, float]] = {}
    for count in (1, 2, 3):
        runs = [bench.publish([bench.repo(bench.stack.registry_a, f"platforms{count}")], PLATFORMS[:count]) for _ in range(bench.runs)]
        rss = spread("client_max_rss_mib", [r.proc.max_rss_mib for r in runs], 1)
        execs = spread("tool_containers", [len(tool_execs(r.out / "engine.log")) for r in runs], 0)
        platforms[str(count)] = spread("release_s", [r.proc.wall_s for r in runs]) | rss | execs
    registries: dict[str, dict[str, float]] = {}
    for count in (1, 2, 4):
        samples: list[float] = []
        received: list[int] = []
        containers: list[float] = []
        for _ in range(bench.runs):
            with contextlib.ExitStack() as stack:
                proxies = [stack.enter_context(FaultyProxy(bench.stack.registry_a)) for _ in range(count)]
                name = f"registries{count}-{uuid.uuid4().hex[:8]}"
                release = bench.publish([f"{p.address}/bench/{name}-{i}" for i, p in enumerate(proxies)])
                samples.append(release.proc.wall_s)
                received.append(max(p.received for p in proxies))
                containers.append(len(tool_execs(release.out / "engine.log")))
        registries[str(count)] = spread("release_s", samples) | spread("bytes_per_registry", received, 0)
        registries[str(count)] |= spread("tool_containers", containers, 0)
    bench.details["scaling_platforms"] = platforms
    bench.details["scaling_registries"] = registries
    bench.figures |= marginal_costs(platforms, "platform") | marginal_costs(registries, "registry")


def marginal_costs(rows: dict[str, dict[str, float]], what: str) -> dict[str, float]:
    """What one more ``what`` costs, from the scaling rows (count -> medians), between each pair
    of neighbouring counts, per added unit: seconds, share of the smaller release, tool
    containers; the figure is the largest step of the series (its worst case)."""
    counts = sorted(int(c) for c in rows)
    steps = []
    for low, high in itertools.pairwise(counts):
        a, b = rows[str(low)], rows[str(high)]
        added = high - low
        steps.append(
            (
                (b["release_s"] - a["release_s"]) / added,
                (b["release_s"] - a["release_s"]) / added / a["release_s"] * 100,
                (b.get("tool_containers", 0) - a.get("tool_containers", 0)) / added,
            )
        )
    if not steps:
        return {}
    return {
        f"marginal_{what}_s": round(max(s for s, _, _ in steps), 3),
        f"marginal_{what}_pct": round(max(p for _, p, _ in steps), 1),
        f"marginal_{what}_containers": round(max(c for _, _, c in steps), 1),
    }


def engines(bench: Bench) -> None:
    """Section 7: a 2-platform release on one engine vs split across two (``--builder``: arm64 on
    the ``ci/stack builder`` engine). Each run builds a fresh copy of the fixture (its Go build
    step runs, nothing of it is cached) and publishes the image alone to registry A."""
    stack = ["bash", str(ROOT / "ci" / "stack"), "builder"]
    up = subprocess.run([*stack, "up"], capture_output=True, text=True, check=False)
    if up.returncode != 0:
        raise BenchError(f"ci/stack builder up failed: {up.stderr[-1000:]}")
    env = json.loads(subprocess.run([*stack, "env", "--json"], capture_output=True, text=True, check=True).stdout)
    split = ("--builder", f"linux/arm64={env['SHIPYARD_BUILDER_ENGINE']}")

    def release(name: str, *extra: str) -> Release:
        target = bench.repo(bench.stack.registry_a, name)
        return bench.publish([target], PLATFORMS[:2], everything=False, source=fresh_fixture(bench), extra=extra)

    try:
        if not bench.quick:  # untimed: the builder's base images pulled, its cache as warm as the default engine's
            release("engines-warm-up", *split)
        one: list[Release] = []
        two: list[Release] = []
        for _ in range(bench.runs):
            one.append(release("engines1"))
            two.append(release("engines2", *split))
    finally:
        subprocess.run([*stack, "down"], capture_output=True, check=False)
    bench.figures |= spread("engines_one_s", [r.proc.wall_s for r in one]) | spread("engines_two_s", [r.proc.wall_s for r in two])
    bench.figures |= spread("engines_one_build_s", [r.timings["build+assemble"] for r in one])
    bench.figures |= spread("engines_two_build_s", [r.timings["build+assemble"] for r in two])
    bench.figures |= spread("engines_two_vs_one", [t.proc.wall_s / o.proc.wall_s for o, t in zip(one, two, strict=True)], 2)
    bench.figures["engines_two_vs_one"] = round(bench.figures["engines_two_s"] / bench.figures["engines_one_s"], 2)


def build_cache(bench: Bench) -> None:
    """Section 8: the build cache on a new runner. Each run, on the ``ci/stack runner`` engine:
    wipe, release the cache fixture exporting its cache; wipe, release it again importing that
    cache; release it once more warm. The shared engine is never wiped."""
    stack = ["bash", str(ROOT / "ci" / "stack"), "runner"]

    def runner(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*stack, *args], capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            raise BenchError(f"ci/stack runner {' '.join(args)} failed: {proc.stderr[-1000:]}")
        return proc

    runner("up")
    env = json.loads(runner("env", "--json").stdout)
    on_runner = {"_EXPERIMENTAL_DAGGER_RUNNER_HOST": env["SHIPYARD_RUNNER_ENGINE"]}
    platforms = ("linux/arm64", "linux/arm/v7")
    cold: list[float] = []
    export: list[float] = []
    cached: list[float] = []
    warm: list[float] = []
    try:
        for _ in range(bench.runs):
            cache = bench.repo(bench.stack.registry_a, "cache") + ":buildcache"
            to = ("--cache-to", f"type=registry,ref={cache},mode=max")

            def release(*extra: str) -> Release:
                target = bench.repo(bench.stack.registry_a, "cached")
                return bench.publish([target], platforms, everything=False, source=CACHE_FIXTURE, extra=extra, environment=on_runner)

            runner("reset")
            first = release(*to)
            export.append(first.timings["cache_export"])
            cold.append(first.proc.wall_s - first.timings["cache_export"])
            if first.report["cache"]["warnings"]:
                raise BenchError(f"the cache was not exported: {first.report['cache']['warnings']}")
            runner("reset")
            second = release("--cache-from", cache)
            if second.report["digest"] != first.report["digest"]:
                raise BenchError(f"the release from the cache has another digest: {second.report['digest']} != {first.report['digest']}")
            cached.append(second.proc.wall_s)
            warm.append(release().proc.wall_s)
    finally:
        runner("down")
    bench.figures |= spread("cache_release_cold_s", cold) | spread("cache_export_s", export)
    bench.figures |= spread("release_cold_cache_s", cached) | spread("cache_release_warm_s", warm)
    bench.figures |= spread("release_cold_cache_ratio", [c / n for c, n in zip(cached, cold, strict=True)], 2)
    bench.figures["release_cold_cache_ratio"] = round(bench.figures["release_cold_cache_s"] / bench.figures["cache_release_cold_s"], 2)


def fresh_fixture(bench: Bench) -> Path:
    """A copy of the fixture whose ``main.go`` differs by a comment: its build steps run again,
    the binary (and so the image) stays the same."""
    source = bench.scratch("app")
    shutil.copytree(FIXTURE, source, dirs_exist_ok=True)
    with (source / "main.go").open("a") as main:
        main.write(f"\n// bench {uuid.uuid4().hex}\n")
    return source


# --- the run ----------------------------------------------------------------------------------


def machine(bench: Bench) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = models[0] if models else ""
    cli = bench.stack.env.get("_EXPERIMENTAL_DAGGER_CLI_BIN", "dagger")
    version = subprocess.run([cli, "version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "engine_version": bench.details.get("engine_version") or [*version.split(), "", ""][1],
        "dagger_cli": version,
        "load_average_at_start": bench.load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def merged(previous_path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` laid over the previous results: its figures replace theirs; the sections it did
    not run keep theirs, and ``runs_by_section`` says which command and date each comes from."""
    if not previous_path.exists():
        return result
    previous: dict[str, Any] = json.loads(previous_path.read_text())
    if previous.get("kind") != result["kind"]:
        raise SystemExit(f"--merge: {previous_path} is a {previous.get('kind')} run, this one {result['kind']}")
    run = {"command": result["command"], "date": result["date"], "duration_s": result["duration_s"], "runs": result["runs"]}
    by_section = previous.get("runs_by_section") or {
        s: {k: previous[k] for k in ("command", "date", "duration_s", "runs")} for s in previous.get("sections", [])
    }
    by_section |= {s: run for s in result["sections"]}
    if "release" in result["sections"] and not result["cold"]:  # the earlier cold figures came from other code: dropped
        cold = ("release_cold_s", "verify_cold_s")
        previous = {k: v for k, v in previous.items() if not k.startswith(cold)}
        previous["details"] = {k: v for k, v in previous.get("details", {}).items() if k != "release_cold_steps"}
    return {
        **previous,
        **{k: v for k, v in result.items() if k not in ("details", "sections", "errors")},
        "sections": [s for s in SECTIONS if s in by_section],
        "runs_by_section": by_section,
        "details": {**previous.get("details", {}), **result["details"]},
        "errors": result["errors"],
    }


def selected(only: str | None) -> list[str]:
    if not only:
        return list(SECTIONS)
    names = [ALIASES.get(n.strip(), n.strip()) for n in only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in names]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=None, help="runs per figure, reported as the median with min and max (default 3)")
    parser.add_argument("--quick", action="store_true", help="validation: 1 run each, no cold runs, no warm-up")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument(
        "--cold",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cold runs: `ci/stack reset-engine` (wipes the SHARED engine's cache) before each (default: on, off with --quick)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where latest.{json,md,png} go")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other sections' figures from the existing latest.json (each section says when and how it was run)",
    )
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.cold = (not args.quick) if args.cold is None else args.cold
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sections = selected(args.only)
    stack = Stack.from_environment()
    os.environ.update({k: v for k, v in stack.env.items() if k.startswith(("_EXPERIMENTAL_DAGGER", "DAGGER_", "DO_NOT_TRACK"))})
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        bench = Bench(stack=stack, work=Path(tmp), runs=args.runs, quick=args.quick, cold=args.cold)
        bench.prepare()
        steps = {
            "release": lambda: release_and_seed(bench, release=True, seed="seed" in sections),
            "seed": lambda: None if "release" in sections else release_and_seed(bench, release=False, seed=True),
            "qemu": lambda: qemu_vs_cross(bench),
            "bytes": lambda: bytes_uploaded(bench),
            "scaling": lambda: scaling(bench),
            "engines": lambda: engines(bench),
            "cache": lambda: build_cache(bench),
        }
        for section in sections:
            print(f"bench: {section} …", file=sys.stderr, flush=True)
            section_started = time.monotonic()
            try:
                steps[section]()
            except (BenchError, subprocess.CalledProcessError) as exc:
                bench.errors.append(f"{section}: {exc}")
                print(f"bench: {section} failed: {exc}", file=sys.stderr)
            bench.details.setdefault("section_s", {})[section] = round(time.monotonic() - section_started, 1)
        if bench.rss:
            bench.figures["client_max_rss_mib_peak"] = round(max(bench.rss), 1)
        result = {
            "kind": "quick" if args.quick else "full",
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "runs": args.runs,
            "cold": args.cold,
            "sections": sections,
            "duration_s": round(time.monotonic() - started, 1),
            "machine": machine(bench),
            **bench.figures,
            "details": bench.details,
            "errors": bench.errors,
        }
    if args.merge:
        result = merged(args.results / "latest.json", result)
    paths = write_results(result, args.results)
    print("bench: wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    if bench.errors:
        raise SystemExit(1)
