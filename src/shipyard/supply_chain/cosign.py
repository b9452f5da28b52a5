"""cosign command lines for signing, attesting and verifying, in key and keyless mode (pure).

Secrets never appear here: the key, its password and OIDC tokens reach cosign as mounted files
or secret variables (``steps/sign.py``); these functions only name the paths cosign reads.

- **key mode** signs offline by default (no transparency-log upload), so verification skips
  the log (``--insecure-ignore-tlog``) unless the release uploaded to Rekor.
- **keyless mode** gets a short-lived certificate from Fulcio for an OIDC identity and always
  records the signature in Rekor; verification names the identity and the issuer it trusts.
  The identity token comes either from ``--oidc-token`` (a token file) or, in GitHub Actions,
  from the runner (cosign's ``github-actions`` provider, given the runner's request URL and
  token as secret variables).
- a **private Sigstore** (a company's own, or the test stack's) is named by its Fulcio, Rekor
  and timestamp-authority URLs and trusted through its ``trusted_root.json`` (``cosign
  trusted-root create``), mounted at TRUSTED_ROOT_PATH; without one cosign trusts the public
  instance (TUF).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cryptography import x509

from shipyard.errors import InvalidInput
from shipyard.release.config import SigningMode

KEY_PATH = "/run/shipyard/cosign.key"
PUBLIC_KEY_PATH = "/run/shipyard/cosign.pub"
TOKEN_PATH = "/run/shipyard/oidc-token"
PREDICATE_PATH = "/run/shipyard/predicate.json"
TRUSTED_ROOT_PATH = "/run/shipyard/trusted_root.json"
DEFAULT_FULCIO_URL = "https://fulcio.sigstore.dev"
DEFAULT_REKOR_URL = "https://rekor.sigstore.dev"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
INSECURE_REGISTRY = ("--allow-insecure-registry", "--allow-http-registry")
# Sigstore bundles (v0.3) as OCI 1.1 referrers, the format of actions/attest-build-provenance;
# where a registry has no referrers API, the referrers index is the fallback tag sha256-<hex>.
BUNDLE_FORMAT = ("--new-bundle-format",)
BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@dataclass(frozen=True)
class SigningIdentity:
    """How a release is signed: by a key, or keyless with an OIDC identity."""

    mode: SigningMode
    token_file: bool = False  # keyless: an identity token is mounted at TOKEN_PATH
    github_runner: bool = False  # keyless: the runner's token request URL and token are given
    fulcio_url: str = DEFAULT_FULCIO_URL
    rekor_url: str = DEFAULT_REKOR_URL
    tlog_upload: bool = False  # key mode: also record the signature in Rekor
    timestamp_url: str = ""  # keyless: also get an RFC 3161 timestamp from this authority
    trusted_root: bool = False  # keyless: a private Sigstore's trusted root is mounted at TRUSTED_ROOT_PATH
    bundles: bool = False  # keyless: also write Sigstore bundles as OCI 1.1 referrers

    def _credentials(self) -> list[str]:
        if self.mode is SigningMode.KEY:
            args = ["--key", KEY_PATH]
            return args + ([f"--rekor-url={self.rekor_url}"] if self.tlog_upload else ["--tlog-upload=false"])
        args = [f"--fulcio-url={self.fulcio_url}", f"--rekor-url={self.rekor_url}"]
        args += [f"--timestamp-server-url={self.timestamp_url}"] if self.timestamp_url else []
        args += ["--trusted-root", TRUSTED_ROOT_PATH] if self.trusted_root else []
        return args + (["--identity-token", TOKEN_PATH] if self.token_file else ["--oidc-provider", "github-actions"])

    def services(self) -> dict[str, str]:
        """The Sigstore URLs of a keyless identity (option name -> URL), for endpoint mapping."""
        if self.mode is SigningMode.KEY:
            return {"rekor-url": self.rekor_url} if self.tlog_upload else {}
        urls = {"fulcio-url": self.fulcio_url, "rekor-url": self.rekor_url, "timestamp-url": self.timestamp_url}
        return {k: v for k, v in urls.items() if v}

    def reached_through(self, hosts: dict[str, str]) -> SigningIdentity:
        """The identity with each loopback service URL rewritten to the host a tool container
        reaches it at (``hosts``: ``127.0.0.1:5555`` -> ``registry-5555:5555``)."""
        return replace(
            self,
            fulcio_url=rewrite_loopback_url(self.fulcio_url, hosts),
            rekor_url=rewrite_loopback_url(self.rekor_url, hosts),
            timestamp_url=rewrite_loopback_url(self.timestamp_url, hosts),
        )

    def sign_args(self, reference: str | Sequence[str], *, insecure: bool = False, bundle: bool = False) -> list[str]:
        """``cosign sign`` of an index and (``--recursive``) every platform manifest, by digest
        (of several, one per repository: one invocation); ``bundle``: as a Sigstore bundle in an
        OCI 1.1 referrer (``--new-bundle-format``)."""
        references = [reference] if isinstance(reference, str) else list(reference)
        args = ["cosign", "sign", "--yes", "--recursive", *self._credentials(), *(BUNDLE_FORMAT if bundle else ())]
        return [*args, *(INSECURE_REGISTRY if insecure else ()), *references]

    def attest_args(
        self,
        reference: str | Sequence[str],
        kind: str,
        *,
        insecure: bool = False,
        bundle: bool = False,
        predicate: str = PREDICATE_PATH,
    ) -> list[str]:
        """``cosign attest --type KIND`` of the predicate file to ``reference`` (or to each of
        several references: one invocation, one signing of the predicate per subject).

        cosign wraps it in an in-toto Statement of type v0.1 (its ``--statement`` option, which
        would take a v1 Statement, works only with the new bundle format in cosign 2.6)."""
        references = [reference] if isinstance(reference, str) else list(reference)
        args = ["cosign", "attest", "--yes", *self._credentials(), "--type", _attest_type(kind), "--predicate", predicate]
        return [*args, *(BUNDLE_FORMAT if bundle else ()), *(INSECURE_REGISTRY if insecure else ()), *references]


def signing_identity(
    mode: SigningMode,
    *,
    has_key: bool,
    has_token: bool = False,
    has_runner_request: tuple[bool, bool] = (False, False),
    fulcio_url: str = "",
    rekor_url: str = "",
    timestamp_url: str = "",
    has_trusted_root: bool = False,
    bundles: bool = False,
) -> SigningIdentity | None:
    """Check the signing options before anything runs; None when the release is not signed.

    ``has_runner_request``: whether the GitHub runner's token request URL and token were given.
    """
    if mode is SigningMode.NONE:
        return None
    urls = {"fulcio-url": fulcio_url, "rekor-url": rekor_url, "timestamp-url": timestamp_url}
    for name, url in urls.items():
        check_service_url(f"--{name}", url)
    if mode is SigningMode.KEY:
        if not has_key:
            raise InvalidInput("--sign", "key", "needs a private key", "Add --key file:cosign.key (and --cosign-password env:NAME).")
        for name, given in (
            ("--fulcio-url", fulcio_url),
            ("--timestamp-url", timestamp_url),
            ("--sigstore-trusted-root", has_trusted_root),
        ):
            if given:
                raise InvalidInput(
                    name,
                    given if isinstance(given, str) else "(given)",
                    "is only used by keyless signing",
                    "Drop it, or use --sign keyless.",
                )
        return SigningIdentity(mode, rekor_url=rekor_url or DEFAULT_REKOR_URL, tlog_upload=bool(rekor_url))
    if has_key:
        raise InvalidInput("--key", "(given)", "is not used by keyless signing", "Drop --key, or use --sign key.")
    url_given, token_given = has_runner_request
    if url_given != token_given:
        missing = "--oidc-request-token" if url_given else "--oidc-request-url"
        raise InvalidInput(
            missing,
            "(missing)",
            "is needed with the other GitHub runner option",
            "Pass both: --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN.",
        )
    if not has_token and not url_given:
        raise InvalidInput(
            "--sign",
            "keyless",
            "needs an OIDC identity token",
            "Pass --oidc-token env:NAME, or in GitHub Actions (with permissions id-token: write) "
            "--oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN.",
        )
    if has_token and url_given:
        raise InvalidInput("--oidc-token", "(given)", "conflicts with the GitHub runner options", "Pass one source of the identity token.")
    return SigningIdentity(
        mode,
        token_file=has_token,
        github_runner=url_given,
        fulcio_url=fulcio_url or DEFAULT_FULCIO_URL,
        rekor_url=rekor_url or DEFAULT_REKOR_URL,
        timestamp_url=timestamp_url,
        trusted_root=has_trusted_root,
        bundles=bundles,
    )


def referrers_fallback_subjects(tags: list[str] | tuple[str, ...]) -> set[str]:
    """Digests a repository holds OCI 1.1 referrers for, by their fallback tags (``sha256-<hex>``)."""
    return {f"sha256:{t[len('sha256-') :]}" for t in tags if re.fullmatch(r"sha256-[0-9a-f]{64}", t)}


def explain_signing_error(line: str, identity: SigningIdentity, hosts: dict[str, str] | None = None) -> str:
    """cosign's last line when signing failed, with the Sigstore service at fault named as the
    user wrote it (``hosts``: user ``host:port`` -> the host the tool container used)."""
    for outside, inside in (hosts or {}).items():
        line = line.replace(inside, outside)
    unreachable = ("connection refused", "no such host", "i/o timeout", "connection reset", "EOF", "context deadline exceeded")
    down = next((u for u in unreachable if u in line), None)
    if "Fulcio" in line or "signingCert" in line:
        if "identity token" in line:
            return (
                f"Fulcio ({identity.fulcio_url}) refused the OIDC identity token: it has expired, or it is not from an issuer "
                f"Fulcio trusts ({line})"
            )
        if down:
            return f"Fulcio ({identity.fulcio_url}) is unreachable ({down}): {line}"
        return f"Fulcio ({identity.fulcio_url}) could not issue a certificate: {line}"
    if identity.timestamp_url and ("timestamp" in line.lower()) and down:
        return f"the timestamp authority ({identity.timestamp_url}) is unreachable ({down}): {line}"
    if ("rekor" in line.lower() or "tlog" in line.lower() or "transparency" in line.lower()) and down:
        return f"Rekor ({identity.rekor_url}) is unreachable ({down}): {line}"
    return line


def token_expiry(token: str) -> int | None:
    """The ``exp`` claim of a JWT (unverified: only to say early that it has expired), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return exp if isinstance(exp, int) else None


# Where a private Sigstore's trust goes in a cosign container: the trusted root, and the same
# material as the single files cosign's SIGSTORE_* variables name (``verify-attestation`` takes
# no trusted root outside the new bundle format; the variables serve every command).
TRUST_FILES = {
    "SIGSTORE_ROOT_FILE": "/run/shipyard/sigstore/fulcio.pem",
    "SIGSTORE_REKOR_PUBLIC_KEY": "/run/shipyard/sigstore/rekor.pub",
    "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": "/run/shipyard/sigstore/ctlog.pub",
    "SIGSTORE_TSA_CERTIFICATE_FILE": "/run/shipyard/sigstore/tsa.pem",
}


def trust_files(trusted_root: str) -> dict[str, str]:
    """``trusted_root.json`` as the PEM files cosign's SIGSTORE_* variables read (variable -> PEM);
    a variable whose part is absent from the root is left out. Bad JSON is bad input."""
    try:
        root = json.loads(trusted_root)
        if not isinstance(root, dict):
            raise ValueError("not an object")

        def pem(kind: str, raw: str) -> str:
            body = base64.b64decode(raw)
            b64 = base64.b64encode(body).decode()
            lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
            return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"

        def chains(key: str) -> str:
            return "".join(pem("CERTIFICATE", c["rawBytes"]) for a in root.get(key, []) for c in a["certChain"]["certificates"])

        def keys(key: str) -> str:
            return "".join(pem("PUBLIC KEY", t["publicKey"]["rawBytes"]) for t in root.get(key, []))

        found = {
            "SIGSTORE_ROOT_FILE": chains("certificateAuthorities"),
            "SIGSTORE_REKOR_PUBLIC_KEY": keys("tlogs"),
            "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": keys("ctlogs"),
            "SIGSTORE_TSA_CERTIFICATE_FILE": chains("timestampAuthorities"),
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            "--sigstore-trusted-root", "(given)", f"is not a Sigstore trusted root ({exc})", "Make one with cosign trusted-root create."
        ) from None
    return {k: v for k, v in found.items() if v}


# Sigstore's certificate extensions for the OIDC issuer: v2 (a DER UTF8String) and v1 (raw).
_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"


def certificate_identity(pem: str) -> tuple[str, str]:
    """The signer's identity (SAN: URI or e-mail) and OIDC issuer of a Fulcio certificate."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [*san.get_values_for_type(x509.UniformResourceIdentifier), *san.get_values_for_type(x509.RFC822Name)]
    issuer = ""
    for ext in cert.extensions:
        if ext.oid == _ISSUER_V2 and isinstance(ext.value, x509.UnrecognizedExtension):
            raw = ext.value.value  # UTF8String: tag 0x0c, a DER length, the text
            offset = 2 if raw[1] < 0x80 else 2 + (raw[1] & 0x7F)
            issuer = raw[offset:].decode()
        elif ext.oid == _ISSUER_V1 and not issuer and isinstance(ext.value, x509.UnrecognizedExtension):
            issuer = ext.value.value.decode()
    return (names[0] if names else ""), issuer


_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<netloc>[^/?#]*)(?P<rest>.*)", re.DOTALL)
_NETLOC = re.compile(r"(?:[^@]*@)?(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>\d+))?")


def _url_parts(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, the rest after the authority) of an absolute URL, or None."""
    match = _URL.fullmatch(url)
    netloc = _NETLOC.fullmatch(match.group("netloc")) if match else None
    if match is None or netloc is None:
        return None
    port = netloc.group("port")
    return match.group("scheme").lower(), netloc.group("host").strip("[]"), int(port) if port else None, match.group("rest")


def check_service_url(option: str, url: str) -> None:
    """A Sigstore service URL must be http(s) with a host."""
    parts = _url_parts(url)
    if url and (parts is None or parts[0] not in ("http", "https") or not parts[1]):
        raise InvalidInput(option, url, "is not an http(s) URL", f"Write e.g. {option} {DEFAULT_FULCIO_URL}.")


def loopback_address(url: str) -> str | None:
    """``127.0.0.1:PORT`` (as written) of a URL on this machine's loopback, else None."""
    parts = _url_parts(url)
    if parts is None:
        return None
    scheme, host, port, _ = parts
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None
    return f"{host}:{port or (443 if scheme == 'https' else 80)}"


def rewrite_loopback_url(url: str, hosts: dict[str, str]) -> str:
    """``url`` with its loopback ``host:port`` replaced by how a tool container reaches it."""
    address = loopback_address(url) if url else None
    parts = _url_parts(url)
    if address is None or address not in hosts or parts is None:
        return url
    return f"{parts[0]}://{hosts[address]}{parts[3]}"


@dataclass(frozen=True)
class TrustPolicy:
    """Whose signatures a verification accepts: a public key, or a keyless identity and issuer."""

    key: bool = False  # a public key is mounted at PUBLIC_KEY_PATH
    certificate_identity: str = ""
    certificate_identity_regexp: str = ""
    certificate_oidc_issuer: str = ""
    rekor_url: str = ""  # empty with a key: signatures were not uploaded to a transparency log
    certificate_oidc_issuer_regexp: str = ""
    trusted_root: bool = False  # keyless: a private Sigstore's trusted root is mounted at TRUSTED_ROOT_PATH

    def _trust(self) -> list[str]:
        if self.key:
            return ["--key", PUBLIC_KEY_PATH, *([f"--rekor-url={self.rekor_url}"] if self.rekor_url else ["--insecure-ignore-tlog=true"])]
        if self.certificate_oidc_issuer:
            args = [f"--certificate-oidc-issuer={self.certificate_oidc_issuer}"]
        else:
            args = [f"--certificate-oidc-issuer-regexp={self.certificate_oidc_issuer_regexp}"]
        if self.certificate_identity:
            args.append(f"--certificate-identity={self.certificate_identity}")
        else:
            args.append(f"--certificate-identity-regexp={self.certificate_identity_regexp}")
        return [*args, f"--rekor-url={self.rekor_url or DEFAULT_REKOR_URL}"]  # a private root: TRUST_FILES

    def reached_through(self, hosts: dict[str, str]) -> TrustPolicy:
        return replace(self, rekor_url=rewrite_loopback_url(self.rekor_url, hosts))

    def _bundle(self, bundle: bool) -> list[str]:
        """Reading Sigstore bundles from OCI referrers: cosign wants the trusted root as a flag."""
        return [*BUNDLE_FORMAT, *(["--trusted-root", TRUSTED_ROOT_PATH] if self.trusted_root else [])] if bundle else []

    def verify_args(self, reference: str, *, insecure: bool = False, bundle: bool = False) -> list[str]:
        args = ["cosign", "verify", *self._trust(), *self._bundle(bundle), "--output", "json"]
        return [*args, *(INSECURE_REGISTRY if insecure else ()), reference]

    def verify_attestation_args(self, reference: str, kind: str, *, insecure: bool = False, bundle: bool = False) -> list[str]:
        args = ["cosign", "verify-attestation", *self._trust(), *self._bundle(bundle), "--type", kind, "--output", "json"]
        return [*args, *(INSECURE_REGISTRY if insecure else ()), reference]

    def explain(self, reason: str) -> str:
        """cosign's reason for a failed keyless check, with the cause named first."""
        if self.key:
            return reason
        got = _GOT_IDENTITY.search(reason)
        if got:
            subjects, issuer = got.group(1), got.group(2)
            expected_issuer = self.certificate_oidc_issuer or self.certificate_oidc_issuer_regexp
            issuer_ok = issuer == self.certificate_oidc_issuer if self.certificate_oidc_issuer else bool(re.search(expected_issuer, issuer))
            if not issuer_ok:
                return f"wrong issuer: the certificate was issued for a token from {issuer}, not {expected_issuer} ({reason})"
            expected = self.certificate_identity or f"an identity matching {self.certificate_identity_regexp}"
            return f"wrong identity: signed by {subjects}, not {expected} ({reason})"
        for needle, cause in _VERIFY_CAUSES:
            if needle in reason:
                return f"{cause} ({reason})"
        return reason

    def describe(self) -> str:
        if self.key:
            return "the given public key"
        who = self.certificate_identity or f"identities matching {self.certificate_identity_regexp}"
        issuer = self.certificate_oidc_issuer or f"matching {self.certificate_oidc_issuer_regexp}"
        return f"{who} (issuer {issuer})"


_GOT_IDENTITY = re.compile(r"got subjects \[(.*?)\] with issuer (\S+)")
# Substrings of cosign's reasons for a failed keyless verification, and the cause they mean.
_VERIFY_CAUSES = (
    (
        "signature not found in transparency log",
        "no transparency-log entry: the signature was never recorded in Rekor (signed with --tlog-upload=false)",
    ),
    ("empty key", "signed by a key, not keyless: the signature carries no certificate (verify it with --key)"),
    ("no certificate found", "signed by a key, not keyless: the signature carries no certificate (verify it with --key)"),
    ("certificate signed by unknown authority", "certificate not trusted: no certificate authority of the trusted root issued it"),
    ("rekor log public key not found", "transparency-log entry not trusted: the Rekor that recorded it is not in the trusted root"),
    ("unable to verify SCT", "certificate not trusted: its CT log is not in the trusted root"),
)


def trust_policy(
    *,
    has_key: bool,
    certificate_identity: str = "",
    certificate_identity_regexp: str = "",
    certificate_oidc_issuer: str = "",
    rekor_url: str = "",
    certificate_oidc_issuer_regexp: str = "",
    has_trusted_root: bool = False,
) -> TrustPolicy:
    """Check the verification options: a key, or an identity (exact or regexp) and an issuer (exact or regexp)."""
    check_service_url("--rekor-url", rekor_url)
    for option, first, second in (
        ("--certificate-identity", certificate_identity, certificate_identity_regexp),
        ("--certificate-oidc-issuer", certificate_oidc_issuer, certificate_oidc_issuer_regexp),
    ):
        if first and second:
            raise InvalidInput(option, first, f"conflicts with {option}-regexp", "Pass one of them.")
    if has_trusted_root and has_key:
        raise InvalidInput("--sigstore-trusted-root", "(given)", "is only used by keyless verification", "Drop it, or verify keyless.")
    keyless = bool(certificate_identity or certificate_identity_regexp or certificate_oidc_issuer or certificate_oidc_issuer_regexp)
    if has_key and keyless:
        raise InvalidInput(
            "--key", "(given)", "conflicts with --certificate-identity/--certificate-oidc-issuer", "Verify with one of them."
        )
    if not has_key and not keyless:
        raise InvalidInput(
            "--key",
            "(missing)",
            "is needed, or a keyless identity",
            "Pass --key cosign.pub, or --certificate-identity WHO --certificate-oidc-issuer URL.",
        )
    if keyless:
        if not (certificate_oidc_issuer or certificate_oidc_issuer_regexp):
            raise InvalidInput(
                "--certificate-oidc-issuer", "(missing)", "is needed for keyless verification", f"For GitHub Actions: {GITHUB_ISSUER}."
            )
        if not (certificate_identity or certificate_identity_regexp):
            raise InvalidInput(
                "--certificate-identity",
                "(missing)",
                "is needed for keyless verification",
                "Pass the signer, e.g. https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3 "
                "(or --certificate-identity-regexp).",
            )
    return TrustPolicy(
        key=has_key,
        certificate_identity=certificate_identity,
        certificate_identity_regexp=certificate_identity_regexp,
        certificate_oidc_issuer=certificate_oidc_issuer,
        rekor_url=rekor_url,
        certificate_oidc_issuer_regexp=certificate_oidc_issuer_regexp,
        trusted_root=has_trusted_root,
    )


# cosign's --type names and the in-toto predicate types they stand for.
PREDICATE_TYPES = {
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
}


def _attest_type(kind: str) -> str:
    """What ``cosign attest --type`` gets. For SLSA v1 provenance, the predicate type URI rather
    than ``slsaprovenance1``: with the short name cosign re-encodes the predicate through
    in-toto-golang's structs, which write ``invocationID`` where the SLSA v1 schema says
    ``invocationId``; with the URI the predicate is attested as written. Verifying with
    ``--type slsaprovenance1`` finds it either way (same predicate type)."""
    return PREDICATE_TYPES[kind] if kind == "slsaprovenance1" else kind
