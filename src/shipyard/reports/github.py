"""What a release tells GitHub Actions (pure): the job summary, the step outputs, annotations.

Both doors write ``summary.md`` and ``github-output.txt`` into the output directory (module mode
runs inside the engine and cannot reach the runner's files: the workflow appends them); the CLI,
when ``GITHUB_ACTIONS=true``, also appends them to ``$GITHUB_STEP_SUMMARY`` and ``$GITHUB_OUTPUT``
itself. The outputs file uses the runner's multi-line syntax (``name<<DELIMITER``), so a list of
tags is one output, one tag per line, as docker/metadata-action writes its ``tags``.
"""

from __future__ import annotations

import hashlib
import re

from shipyard.reports.notes import Verification, render_release_notes
from shipyard.reports.report import PublishReport

SUMMARY_FILE = "summary.md"
OUTPUTS_FILE = "github-output.txt"
_TRACE_ID = re.compile(r"\s*\[traceparent:[^\]]*\]")


def without_trace_ids(message: str) -> str:
    """An engine error without the trace ids Dagger appends (noise for a reader)."""
    return _TRACE_ID.sub("", message)


def job_summary(report: PublishReport, verification: Verification | None = None) -> str:
    """The Markdown job summary: the verdict, tags per registry, digests, supply-chain results
    and the verify commands (those of ``release-notes.md``)."""
    verdict = "published" if report.ok else "FAILED"
    lines = [f"## Shipyard: release {report.version or '?'} {verdict}", ""]
    if report.error:
        lines += [f"> **Error:** {without_trace_ids(report.error)}", ""]
    lines += ["| Registry target | Status | Tags | Digest |", "| --- | --- | --- | --- |"]
    for target in report.targets:
        tags = ", ".join(f"`{t}`" for t in target.tags) or "none"
        digest = f"`{target.digest}`" if target.digest else ""
        status = target.status + (" (optional)" if target.optional else "")
        lines.append(f"| `{target.repository}` | {status} | {tags} | {digest} |")
    lines.append("")
    supply = []
    if report.signatures:
        supply.append(f"- Signed in {len(report.signatures)} repositories (index and every platform manifest)")
    if report.attestations:
        kinds = sorted({a["type"] for a in report.attestations})
        supply.append(f"- Attestations: {len(report.attestations)} ({', '.join(kinds)})")
    if report.sboms:
        supply.append(f"- SBOMs: {len(report.sboms)} file(s)")
    if report.scan:
        supply.append(f"- Vulnerability scan gate: {report.scan['gate']}")
    if report.smoke:
        supply.append(f"- Smoke test: {report.smoke['result']}")
    if supply:
        lines += ["### Supply chain", "", *supply, ""]
    if report.timings:
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.timings.items())
        lines += [f"Steps: {steps}", ""]
    if report.ok and report.digest:
        notes = render_release_notes(report, verification or Verification()).split("\n", 1)[1]  # its own title dropped
        lines += ["<details><summary>Digests, pull and verify commands</summary>", "", notes.strip(), "", "</details>", ""]
    return "\n".join(lines)


def step_outputs(report: PublishReport, report_path: str) -> dict[str, str]:
    """The step outputs: ``digest``, ``version``, ``tags`` (every ``repository:tag`` written, one a
    line), ``image`` (the first published target by digest), ``images`` (every one, one a line)
    and ``report`` (the path of ``report.json``)."""
    published = [t for t in report.targets if t.status == "published" and t.digest]
    images = [f"{t.repository}@{t.digest}" for t in published]
    return {
        "digest": report.digest or "",
        "version": report.version or "",
        "tags": "\n".join(f"{t.repository}:{tag}" for t in published for tag in t.tags),
        "image": images[0] if images else "",
        "images": "\n".join(images),
        "report": report_path,
        "ok": "true" if report.ok else "false",
    }


def outputs_file(outputs: dict[str, str]) -> str:
    """The outputs as ``$GITHUB_OUTPUT`` reads them: ``name=value``, or ``name<<DELIMITER`` for
    a value of several lines (the delimiter derived from the value, so it never occurs in it)."""
    lines = []
    for name, value in outputs.items():
        if "\n" in value:
            delimiter = "ghadelimiter_" + hashlib.sha256(value.encode()).hexdigest()[:16]
            lines += [f"{name}<<{delimiter}", value, delimiter]
        else:
            lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n"


def annotation(kind: str, title: str, message: str) -> str:
    """A workflow command (``::error title=…::message``), escaped as the runner expects."""

    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    return f"::{kind} title={prop(title)}::{data(without_trace_ids(message))}"


def failure_title(step: str, message: str) -> str:
    """What failed, for an annotation's title: the step, and the platform or registry it names."""
    build = re.match(r"build for (\S+)", message)
    if build:
        return f"Shipyard build {build.group(1)}"
    push = re.match(r"push to (\S+)", message)
    if push:
        return f"Shipyard push to {push.group(1)}"
    return f"Shipyard {step}" if step else "Shipyard"
