"""release-notes.md from a publish report: every command on a line of its own, as users run it."""

from __future__ import annotations

import re

from shipyard.gates.smoke import PlatformSmoke, SmokeReport
from shipyard.release.config import SigningMode
from shipyard.reports.notes import Verification, render_release_notes
from shipyard.reports.report import PublishReport, TargetReport

INDEX = "sha256:" + "a" * 64
AMD, ARM = "sha256:" + "b" * 64, "sha256:" + "c" * 64
A, B = "127.0.0.1:5000/acme/app", "ghcr.io/acme/app"


def report(signed: bool = True) -> PublishReport:
    attested = [
        {"repository": r, "subject": s, "platform": p, "type": t}
        for r in (A, B)
        for s, p in ((INDEX, "linux/amd64"), (AMD, "linux/amd64"), (INDEX, "linux/arm64"))
        for t in ("spdxjson", "slsaprovenance1")
    ]
    return PublishReport(
        version="1.2.3",
        digest=INDEX,
        platforms=({"platform": "linux/amd64", "digest": AMD}, {"platform": "linux/arm64", "digest": ARM}),
        targets=(
            TargetReport(A, "published", INDEX, tags=("1.2.3", "1.2", "1", "latest")),
            TargetReport(B, "published", INDEX, tags=("1.2.3",)),
            TargetReport("docker.io/acme/app", "skipped", optional=True, error="no credentials"),
        ),
        tags=("1.2.3", "1.2", "1", "latest"),
        signatures=tuple({"repository": r, "reference": f"{r}@{INDEX}"} for r in (A, B)) if signed else (),
        attestations=tuple(attested) if signed else (),
        sboms=("/tmp/dist/sbom/linux-amd64.spdx-json.json", "/tmp/dist/sbom/linux-arm64.spdx-json.json"),
        scan={
            "gate": "passed",
            "failing": [],
            "ignored": ["CVE-2099-0001 (HIGH) in coreutils 9.1 on linux/amd64"],
            "counts": {"linux/amd64": {"HIGH": 1}, "linux/arm64": {}},
        },
        smoke=SmokeReport(
            "compose.yaml service app",
            (
                PlatformSmoke("linux/amd64", "CMD-SHELL wget -q -O - http://localhost:8080/health", "healthy", 2.5),
                PlatformSmoke("linux/arm/v7", "CMD-SHELL wget -q -O - http://localhost:8080/health", "healthy", 9.25),
            ),
        ).to_dict(),
    )


def commands(notes: str) -> list[str]:
    return [line for block in re.findall(r"```sh\n(.*?)```", notes, re.DOTALL) for line in block.splitlines() if line]


def test_the_notes_name_version_index_and_every_platform_digest() -> None:
    notes = render_release_notes(report(), Verification(SigningMode.KEY))
    assert notes.startswith("# Release 1.2.3\n")
    assert INDEX in notes and f"| linux/amd64 | `{AMD}` |" in notes and f"| linux/arm64 | `{ARM}` |" in notes


def test_key_mode_notes_pull_and_verify_each_published_repository() -> None:
    lines = commands(render_release_notes(report(), Verification(SigningMode.KEY)))
    flags = "--key cosign.pub --insecure-ignore-tlog=true"
    assert lines == [
        f"docker pull {A}:1.2.3",
        f"docker pull {A}@{INDEX}",
        f"docker pull {B}:1.2.3",
        f"docker pull {B}@{INDEX}",
        f"cosign verify {flags} {A}@{INDEX}",
        f"cosign verify-attestation {flags} --type spdxjson {A}@{INDEX}",
        f"cosign verify-attestation {flags} --type slsaprovenance1 {A}@{INDEX}",
        f"cosign verify {flags} {B}@{INDEX}",
        f"cosign verify-attestation {flags} --type spdxjson {B}@{INDEX}",
        f"cosign verify-attestation {flags} --type slsaprovenance1 {B}@{INDEX}",
    ]  # the skipped target is not mentioned


def test_keyless_notes_name_identity_and_issuer() -> None:
    verification = Verification(SigningMode.KEYLESS, certificate_identity="https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
                                certificate_oidc_issuer="https://token.actions.githubusercontent.com")  # fmt: skip
    notes = render_release_notes(report(), verification)
    assert "--certificate-identity 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3'" in notes
    assert "--certificate-oidc-issuer 'https://token.actions.githubusercontent.com'" in notes and "--key" not in notes


def test_unsigned_notes_have_no_verify_commands_but_list_sboms_scan_and_smoke() -> None:
    notes = render_release_notes(report(signed=False))
    assert "cosign" not in notes
    assert "- `sbom/linux-amd64.spdx-json.json`" in notes and "- `sbom/linux-arm64.spdx-json.json`" in notes
    assert "gate passed" in notes and "- linux/amd64: 1 HIGH" in notes and "accepted: CVE-2099-0001" in notes
    assert "Health check from compose.yaml service app" in notes
    assert "- linux/arm/v7: healthy after 9.25s (`CMD-SHELL wget -q -O - http://localhost:8080/health`)" in notes


def test_a_zero_config_release_points_at_its_oci_layout_not_at_the_gone_registry() -> None:
    ephemeral = "shipyard-ephemeral:5000/shipyard/app"
    zero = PublishReport(version="1.2.3", digest=INDEX, platforms=(), targets=(TargetReport(ephemeral, "published", INDEX, ("1.2.3",)),),
                         tags=("1.2.3",))  # fmt: skip
    notes = render_release_notes(zero)
    assert ephemeral not in notes and "`oci/`" in notes and commands(notes) == []
