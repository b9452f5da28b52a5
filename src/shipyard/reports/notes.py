"""release-notes.md, rendered from the publish report (pure): what was released, and the exact
commands users run to pull it and to verify its signature and attestations.

Every command sits alone on a line in a ``sh`` block, as users would paste it; the integration
test runs each one against the registries it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.release.config import SigningMode
from shipyard.release.plan import EPHEMERAL_REGISTRY
from shipyard.reports.report import PublishReport, TargetReport

# The attestation types cosign verifies, in the order the notes list them, with what they hold.
ATTESTATION_TYPES = {"spdxjson": "SPDX SBOM", "cyclonedx": "CycloneDX SBOM", "slsaprovenance1": "SLSA v1 provenance"}


@dataclass(frozen=True)
class Verification:
    """How users verify the release: the signing mode and what ``cosign verify`` needs for it.

    Key mode signs offline (no transparency-log entry), so verifying says
    ``--insecure-ignore-tlog=true``. Keyless prints the identity and issuer given, or placeholders.
    """

    mode: SigningMode = SigningMode.NONE
    public_key: str = "cosign.pub"
    certificate_identity: str = ""
    certificate_oidc_issuer: str = ""

    def flags(self) -> str:
        if self.mode is SigningMode.KEYLESS:
            identity = (
                self.certificate_identity
                or "<signer identity, e.g. https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/tags/TAG>"
            )
            issuer = self.certificate_oidc_issuer or "<OIDC issuer, e.g. https://token.actions.githubusercontent.com>"
            return f"--certificate-identity '{identity}' --certificate-oidc-issuer '{issuer}'"
        return f"--key {self.public_key} --insecure-ignore-tlog=true"


def render_release_notes(report: PublishReport, verification: Verification = Verification()) -> str:
    """The Markdown notes of a published release."""
    lines = [f"# Release {report.version}", ""]
    lines += [f"Image index: `{report.digest}`", ""]
    lines += ["| Platform | Manifest digest |", "| --- | --- |"]
    lines += [f"| {p['platform']} | `{p['digest']}` |" for p in report.platforms]
    published = [t for t in report.targets if t.status == "published" and not t.repository.startswith(f"{EPHEMERAL_REGISTRY}/")]
    lines += ["", "## Pull", ""]
    if not published:
        lines += ["No target was given: the release went to an ephemeral registry, gone now; it is kept as the OCI layout `oci/`.", ""]
    for target in published:
        lines += [f"`{target.repository}` (tags: {', '.join(target.tags) or 'none'}):", "", "```sh"]
        tag = _main_tag(report, target)
        if tag:
            lines.append(f"docker pull {target.repository}:{tag}")
        lines += [f"docker pull {target.repository}@{report.digest}", "```", ""]
    signed = {s["repository"] for s in report.signatures}
    if verification.mode is not SigningMode.NONE and signed:
        lines += ["## Verify", ""]
        if verification.mode is SigningMode.KEY:
            lines += [
                f"Signed with cosign (key mode) in every registry: the index and each platform manifest. `{verification.public_key}`"
                " is the release's public key. The signatures were made offline (no transparency-log entry), hence"
                " `--insecure-ignore-tlog=true`.",
                "",
            ]
        else:
            lines += [
                "Signed with cosign (keyless) in every registry: the index and each platform manifest, with a Fulcio certificate"
                " for the identity below and entries in the Rekor transparency log (which `cosign verify` checks).",
                "",
            ]
        for target in published:
            if target.repository not in signed:
                continue
            reference = f"{target.repository}@{report.digest}"
            lines += ["```sh", f"cosign verify {verification.flags()} {reference}"]
            kinds = {a["type"] for a in report.attestations if a["repository"] == target.repository and a["subject"] == report.digest}
            lines += [f"cosign verify-attestation {verification.flags()} --type {k} {reference}" for k in ATTESTATION_TYPES if k in kinds]
            lines += ["```", ""]
        kinds = {a["type"] for a in report.attestations}
        if kinds:
            attested = ", ".join(ATTESTATION_TYPES[k] for k in ATTESTATION_TYPES if k in kinds)
            lines += [f"Attested to the index: {attested}; each platform manifest carries its own SBOM too.", ""]
    if report.sboms:
        lines += ["## SBOMs", ""]
        lines += [f"- `sbom/{path.replace(chr(92), '/').rsplit('/', 1)[-1]}`" for path in report.sboms]
        lines.append("")
    if report.scan:
        lines += ["## Vulnerability scan", ""]
        lines.append(f"Trivy on every platform image: gate {report.scan['gate']}. Reports are in `scan/`.")
        lines.append("")
        for platform, counts in report.scan["counts"].items():
            found = ", ".join(f"{n} {severity}" for severity, n in sorted(counts.items())) or "no findings"
            lines.append(f"- {platform}: {found}")
        lines += [f"- accepted: {finding}" for finding in report.scan["ignored"]]
        lines.append("")
    if report.smoke:
        smoke = report.smoke
        lines += ["## Smoke test", ""]
        lines += [f"Health check from {smoke['source']}, run inside each image's container:", ""]
        lines += [f"- {p['platform']}: {p['status']} after {p['seconds']}s (`{p['check']}`)" for p in smoke["platforms"]]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _main_tag(report: PublishReport, target: TargetReport) -> str | None:
    """The version tag when it was written, else the first tag written."""
    if report.version and report.version in target.tags:
        return report.version
    return target.tags[0] if target.tags else None
