"""The publish report: what was released where, which tags moved and which were held back.

One convention for every report: ``to_dict()`` (what ``--json`` prints and ``report.json``
holds) and ``render_text()`` (the summary people read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from shipyard.errors import InvalidInput
from shipyard.release.cache import cache_lines
from shipyard.release.rebuild import difference_lines
from shipyard.retention.planner import CleanupPlan, Decision


class OutputFormat(StrEnum):
    """How a command prints its result. (`dagger call` reserves --json for its own output, so the
    Dagger functions take --format; the CLI's --json is the same as --format json.)"""

    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class ReportCheck:
    """A written ``report.json`` read back: a workflow's last word on a release whose outputs
    were kept (``publish --keep-outputs``), failing the job when the release failed."""

    version: str | None
    ok_in_report: bool
    error: str | None

    @classmethod
    def from_json(cls, text: str) -> ReportCheck:
        try:
            data = json.loads(text)
            return cls(version=data.get("version"), ok_in_report=data["ok"] is True, error=data.get("error"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidInput(
                "--report", text[:60], "is not a Shipyard report.json", "Pass the report.json that publish wrote into dist/."
            ) from None

    @property
    def ok(self) -> bool:
        return self.ok_in_report

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "version": self.version, "error": self.error}

    def render_text(self) -> str:
        head = f"Release {self.version or '(no version)'}: " + ("published" if self.ok else "FAILED")
        return head + (f"\n  error: {self.error}" if self.error else "")


class Report(Protocol):
    """What every command returns (tags, plan, publish, rebuild-check, cleanup, sync-readme)."""

    @property
    def ok(self) -> bool:
        """False when the command ran but did not fully succeed: the CLI exits 3, ``dagger call`` fails."""
        ...

    def to_dict(self) -> dict[str, Any]: ...

    def render_text(self) -> str: ...


# The exit code (and the Dagger function's failure) of a report that is not ok: a gate, a
# registry or a partial failure. Bad input never gets this far (InvalidInput, exit 2).
NOT_OK_EXIT_CODE = 3


def render(report: Report, fmt: OutputFormat) -> str:
    """The one way both doors print a report: ``render_text()``, or ``to_dict()`` as JSON."""
    if fmt is OutputFormat.JSON:
        return json.dumps(report.to_dict(), indent=2, sort_keys=True)
    return report.render_text()


@dataclass(frozen=True)
class TargetReport:
    repository: str
    status: str  # published | failed | skipped
    digest: str | None = None
    tags: tuple[str, ...] = ()
    tags_held_back: tuple[dict[str, str], ...] = ()
    optional: bool = False
    error: str | None = None
    # each tag the release manages: {"tag", "before", "after" (digests, read back), "outcome"}:
    # created, moved, kept, held back, restored, deleted, left (could not be undone), unknown
    tag_changes: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "status": self.status,
            "digest": self.digest,
            "reference": f"{self.repository}@{self.digest}" if self.digest else None,
            "tags": list(self.tags),
            "tags_held_back": list(self.tags_held_back),
            "optional": self.optional,
            "error": self.error,
            "tag_changes": list(self.tag_changes),
        }


@dataclass(frozen=True)
class PublishReport:
    version: str | None
    digest: str | None
    platforms: tuple[dict[str, str], ...]  # {"platform": "linux/arm64", "digest": "sha256:…"}
    targets: tuple[TargetReport, ...]
    tags: tuple[str, ...]
    size: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    error: str | None = None
    stages: tuple[str, ...] = ()  # how each Dockerfile stage was built (native or per platform)
    signatures: tuple[dict[str, str], ...] = ()  # {"repository", "reference"}: signed, index and platforms
    attestations: tuple[dict[str, str], ...] = ()  # {"repository", "subject", "platform", "type"}
    sboms: tuple[str, ...] = ()  # SBOM files written, one per platform and format
    scan: dict[str, Any] | None = None  # the gate: result, failing/ignored findings, counts per platform
    smoke: dict[str, Any] | None = None  # the smoke test: result, source, and per platform its verdict, time, check output, logs
    exit_code: int | None = None  # not the usual 3: 130/143 when a signal interrupted the promotion
    cache: dict[str, Any] | None = None  # the build cache: who set it, from/to, the export check (release/cache.py)
    plan: dict[str, Any] | None = None  # the release plan publish acted on: what `shipyard plan` prints with the same flags
    steps: tuple[str, ...] = ()  # the steps that ran, in the step list's order (release/steps.py): the plan's steps
    files: tuple[str, ...] = ()  # the files the release wrote in the output directory, relative to it

    @property
    def ok(self) -> bool:
        return self.error is None and all(t.status != "failed" or t.optional for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "version": self.version,
            "digest": self.digest,
            "platforms": list(self.platforms),
            "targets": [t.to_dict() for t in self.targets],
            "tags": list(self.tags),
            "tags_held_back": [{"repository": t.repository, **h} for t in self.targets for h in t.tags_held_back],
            "size": self.size,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notices": list(self.notices),
            "stages": list(self.stages),
            "signatures": list(self.signatures),
            "attestations": list(self.attestations),
            "sboms": list(self.sboms),
            "scan": self.scan,
            "smoke": self.smoke,
            "cache": self.cache,
            "plan": self.plan,
            "steps": list(self.steps),
            "files": list(self.files),
            "error": self.error,
            "exit_code": self.exit_code,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def render_text(self) -> str:
        head = f"Release {self.version or '(no version)'}: " + ("published" if self.ok else "FAILED")
        lines = [head]
        if self.digest:
            lines.append(f"  index:     {self.digest} ({self.size} bytes of unique content)")
        for p in self.platforms:
            lines.append(f"  platform:  {p['platform']:<14} {p['digest']}")
        lines.extend(f"  stage:     {s}" for s in self.stages)
        lines.extend(f"  signed:    {s['reference']} (index and every platform manifest)" for s in self.signatures)
        lines.extend(f"  sbom:      {path}" for path in self.sboms)
        if self.scan:
            lines.append(
                f"  scan:      gate {self.scan['gate']}; "
                + ", ".join(f"{p}: {sum(c.values())} finding(s)" for p, c in self.scan["counts"].items())
            )
        if self.smoke:
            lines.append(f"  smoke:     {self.smoke['result']} ({self.smoke['source']})")
            for p in self.smoke["platforms"]:
                lines.append(f"             {p['platform']:<14} {p['result']}: {p['status']} in {p['seconds']}s, {p['check']}")
                if p["result"] != "passed":
                    lines.extend(f"               check output: {line}" for line in (p["output"] or p["detail"]).splitlines()[-5:])
                    lines.extend(f"               app log: {line}" for line in p["logs"][-10:])
        if self.attestations:
            lines.append(f"  attested:  {len(self.attestations)} SBOM attestation(s) (each platform's manifest and the index)")
        for t in self.targets:
            lines.append(f"  target:    {t.repository} ({t.status}{', optional' if t.optional else ''})")
            if t.tags:
                lines.append(f"             tags: {', '.join(t.tags)}")
            for held in t.tags_held_back:
                lines.append(f"             held back: {held['tag']}: {held['reason']}")
            for change in t.tag_changes:
                if change["outcome"] not in ("kept", "held back") or change["before"] != change["after"]:
                    was, now = _short(change["before"] or "-"), _short(change["after"] or "-")
                    lines.append(f"             {change['tag']}: {change['outcome']} ({was} -> {now})")
            if t.error:
                lines.append(f"             error: {t.error}")
        lines.extend(cache_lines(self.cache))
        if self.timings:
            lines.append("  timings:   " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        lines.extend(f"  notice:    {n}" for n in self.notices)
        if self.error:
            lines.append(f"  error:     {self.error}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RebuildReport:
    """A rebuild compared with a published release: which platforms (if any) differ."""

    reference: str
    published: str | None  # the published index digest
    rebuilt: str | None
    platforms: tuple[dict[str, str | None], ...]  # {"platform", "published", "rebuilt"}
    error: str | None = None
    differences: tuple[dict[str, Any], ...] = ()  # per differing platform: config fields and files (release/rebuild.py)
    cache: dict[str, Any] | None = None  # the build cache of the rebuild (release/cache.py)

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(str(p["platform"]) for p in self.platforms if p["published"] != p["rebuilt"])

    @property
    def ok(self) -> bool:
        return self.error is None and self.published == self.rebuilt and not self.differing

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reference": self.reference,
            "published": self.published,
            "rebuilt": self.rebuilt,
            "platforms": list(self.platforms),
            "differing": list(self.differing),
            "differences": list(self.differences),
            "cache": self.cache,
            "error": self.error,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def render_text(self) -> str:
        if self.error:
            return f"Rebuild check of {self.reference}: FAILED\n  error: {self.error}"
        verdict = "reproducible" if self.ok else "DIFFERS"
        lines = [f"Rebuild check of {self.reference}: {verdict}", f"  published: {self.published}", f"  rebuilt:   {self.rebuilt}"]
        for p in self.platforms:
            same = "same" if p["published"] == p["rebuilt"] else "DIFFERS"
            lines.append(f"  {p['platform']:<14} {same}: published {p['published']}, rebuilt {p['rebuilt']}")
        for difference in self.differences:
            lines.extend(difference_lines(difference))
        lines.extend(cache_lines(self.cache))
        return "\n".join(lines)


def _cleanup_row(d: Decision) -> dict[str, str]:
    return {"kind": d.kind, "name": d.name, "digest": d.digest, "action": d.action.value, "reason": d.reason}


def _short(name: str) -> str:
    return name[:19] if name.startswith("sha256:") else name


def cleanup_plan_dict(plan: CleanupPlan) -> dict[str, Any]:
    """A cleanup plan as JSON: the rules, every deletion and keep with its reason, the order."""
    return {
        "repository": plan.repository,
        "rules": list(plan.rules),
        "delete": [_cleanup_row(d) for d in plan.deletions],
        "keep": [_cleanup_row(d) for d in plan.keeps],
        "delete_order": list(plan.delete_order),
    }


def render_cleanup_plan(plan: CleanupPlan) -> str:
    lines = [f"Cleanup plan for {plan.repository}", *(f"  rule: {r}" for r in plan.rules)]
    lines.append(f"  delete ({len(plan.deletions)}):")
    lines += [f"    - {d.kind} {_short(d.name)}: {d.reason}" for d in plan.deletions] or ["    (nothing)"]
    lines.append(f"  keep ({len(plan.keeps)}):")
    lines += [f"    - {d.kind} {_short(d.name)}: {d.reason}" for d in plan.keeps] or ["    (nothing)"]
    return "\n".join(lines)


@dataclass
class CleanupReport:
    """A cleanup: its plan and, with ``apply``, what was deleted, what failed and what was left."""

    plan: CleanupPlan
    applied: bool
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "plan": cleanup_plan_dict(self.plan),
            "deleted": self.deleted,
            "failed": [{"item": i, "error": e} for i, e in self.failed],
            "skipped": [{"item": i, "reason": r} for i, r in self.skipped],
        }

    def render_text(self) -> str:
        lines = [render_cleanup_plan(self.plan)]
        if not self.applied:
            lines.append(f"Dry run: nothing deleted. Re-run with --apply to delete {len(self.plan.delete_order)} item(s).")
            return "\n".join(lines)
        lines.append(f"Deleted {len(self.deleted)} item(s)" + (":" if self.deleted else "."))
        lines += [f"  - {item}" for item in self.deleted]
        if self.failed:
            lines.append(f"Failed {len(self.failed)}:")
            lines += [f"  - {item}: {error}" for item, error in self.failed]
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)}:")
            lines += [f"  - {item}: {reason}" for item, reason in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class ReadmeReport:
    """A Docker Hub overview update."""

    repository: str
    size: int
    short_description: str = ""

    ok = True

    def to_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "bytes": self.size, "short_description": self.short_description or None}

    def render_text(self) -> str:
        return f"updated the overview of {self.repository} ({self.size} bytes)"
