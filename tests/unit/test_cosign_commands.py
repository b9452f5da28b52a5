"""cosign command lines and signing options, key and keyless.

Keyless signing needs Fulcio and Rekor, which this machine cannot reach: its command
construction and error paths are tested here as unit tests (key mode runs for real in the
integration tests). Secrets never appear in a command line: only the paths cosign reads them from.
"""

from __future__ import annotations

import pytest
from cryptography import x509

from shipyard.errors import InvalidInput
from shipyard.release.config import SigningMode
from shipyard.supply_chain.cosign import (
    DEFAULT_FULCIO_URL,
    DEFAULT_REKOR_URL,
    KEY_PATH,
    PUBLIC_KEY_PATH,
    TOKEN_PATH,
    signing_identity,
    trust_policy,
)

REF = "ghcr.io/acme/app@sha256:" + "a" * 64


def test_no_signing_means_no_identity() -> None:
    assert signing_identity(SigningMode.NONE, has_key=True) is None


def test_key_mode_signs_recursively_offline_by_digest() -> None:
    identity = signing_identity(SigningMode.KEY, has_key=True)
    assert identity is not None
    assert identity.sign_args(REF) == ["cosign", "sign", "--yes", "--recursive", "--key", KEY_PATH, "--tlog-upload=false", REF]
    insecure = identity.sign_args("registry-5000:5000/acme/app@sha256:" + "a" * 64, insecure=True)
    assert insecure[-3:-1] == ["--allow-insecure-registry", "--allow-http-registry"]


def test_one_invocation_signs_and_attests_in_several_repositories() -> None:
    """One cosign per signature set and per predicate, however many registries: every subject named."""
    identity = signing_identity(SigningMode.KEY, has_key=True)
    assert identity is not None
    other = "registry.example/acme/app@sha256:" + "a" * 64
    assert identity.sign_args([REF, other])[-2:] == [REF, other]
    args = identity.attest_args([REF, other], "spdxjson", predicate="/run/shipyard/predicates/0.json")
    assert args[-2:] == [REF, other] and args[args.index("--predicate") + 1] == "/run/shipyard/predicates/0.json"


def test_key_mode_with_a_rekor_url_uploads_to_that_log() -> None:
    identity = signing_identity(SigningMode.KEY, has_key=True, rekor_url="https://rekor.internal")
    assert identity is not None
    assert "--rekor-url=https://rekor.internal" in identity.sign_args(REF)
    assert "--tlog-upload=false" not in identity.sign_args(REF)


def test_keyless_with_a_token_file_uses_fulcio_and_rekor() -> None:
    identity = signing_identity(SigningMode.KEYLESS, has_key=False, has_token=True)
    assert identity is not None
    assert identity.sign_args(REF) == [
        "cosign",
        "sign",
        "--yes",
        "--recursive",
        f"--fulcio-url={DEFAULT_FULCIO_URL}",
        f"--rekor-url={DEFAULT_REKOR_URL}",
        "--identity-token",
        TOKEN_PATH,
        REF,
    ]


def test_keyless_in_github_actions_asks_the_runner_for_the_token() -> None:
    identity = signing_identity(
        SigningMode.KEYLESS,
        has_key=False,
        has_runner_request=(True, True),
        fulcio_url="https://fulcio.internal",
        rekor_url="https://rekor.internal",
    )
    assert identity is not None and identity.github_runner
    args = identity.attest_args(REF, "spdxjson")
    assert args[:2] == ["cosign", "attest"]
    assert "--oidc-provider" in args and args[args.index("--oidc-provider") + 1] == "github-actions"
    assert {"--fulcio-url=https://fulcio.internal", "--rekor-url=https://rekor.internal"} <= set(args)
    assert args[args.index("--type") + 1] == "spdxjson" and args[-1] == REF


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"has_key": False}, "--sign"),  # keyless without any token source
        ({"has_key": True, "has_token": True}, "--key"),
        ({"has_key": False, "has_runner_request": (True, False)}, "--oidc-request-token"),
        ({"has_key": False, "has_runner_request": (False, True)}, "--oidc-request-url"),
        ({"has_key": False, "has_token": True, "has_runner_request": (True, True)}, "--oidc-token"),
        ({"has_key": False, "has_token": True, "fulcio_url": "fulcio.internal"}, "--fulcio-url"),
    ],
)
def test_keyless_options_that_cannot_work_are_refused_naming_the_option(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        signing_identity(SigningMode.KEYLESS, **kwargs)  # type: ignore[arg-type]
    assert caught.value.name == named
    assert caught.value.fix


def test_key_mode_without_a_key_or_with_a_fulcio_url_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"--key file:cosign\.key"):
        signing_identity(SigningMode.KEY, has_key=False)
    with pytest.raises(InvalidInput, match="only used by keyless"):
        signing_identity(SigningMode.KEY, has_key=True, fulcio_url="https://fulcio.internal")


def test_verifying_with_a_key_skips_the_log_the_release_did_not_use() -> None:
    policy = trust_policy(has_key=True)
    assert policy.verify_args(REF) == ["cosign", "verify", "--key", PUBLIC_KEY_PATH, "--insecure-ignore-tlog=true", "--output", "json", REF]
    assert policy.verify_attestation_args(REF, "slsaprovenance1")[-5:] == ["--type", "slsaprovenance1", "--output", "json", REF]


def test_verifying_keyless_names_the_identity_and_issuer() -> None:
    policy = trust_policy(
        certificate_identity="https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
        certificate_oidc_issuer="https://token.actions.githubusercontent.com",
        has_key=False,
    )
    args = policy.verify_args(REF)
    assert "--certificate-identity=https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3" in args
    assert "--certificate-oidc-issuer=https://token.actions.githubusercontent.com" in args
    assert f"--rekor-url={DEFAULT_REKOR_URL}" in args and "--insecure-ignore-tlog=true" not in args


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"has_key": False}, "--key"),
        ({"has_key": True, "certificate_identity": "me"}, "--key"),
        ({"has_key": False, "certificate_identity": "me"}, "--certificate-oidc-issuer"),
        ({"has_key": False, "certificate_oidc_issuer": "https://issuer"}, "--certificate-identity"),
    ],
)
def test_verification_options_that_cannot_work_are_refused(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        trust_policy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.name == named


def test_provenance_is_attested_under_its_type_uri_so_cosign_keeps_the_predicate_as_written() -> None:
    identity = signing_identity(SigningMode.KEY, has_key=True)
    assert identity is not None
    args = identity.attest_args(REF, "slsaprovenance1")
    assert args[args.index("--type") + 1] == "https://slsa.dev/provenance/v1"
    assert identity.attest_args(REF, "spdxjson")[identity.attest_args(REF, "spdxjson").index("--type") + 1] == "spdxjson"


# --- a private Sigstore: loopback services, trust files, named failures --------------------


def test_loopback_sigstore_urls_are_rewritten_to_the_host_tool_containers_reach() -> None:
    from shipyard.supply_chain.cosign import loopback_address, rewrite_loopback_url

    assert loopback_address("http://127.0.0.1:5555") == "127.0.0.1:5555"
    assert loopback_address("http://localhost:5550/actions/token?ref=x") == "localhost:5550"
    assert loopback_address("https://fulcio.sigstore.dev") is None
    hosts = {"127.0.0.1:5550": "registry-5550:5550"}
    assert rewrite_loopback_url("http://127.0.0.1:5550/actions/token?ref=refs/tags/v1", hosts) == (
        "http://registry-5550:5550/actions/token?ref=refs/tags/v1"
    )
    assert rewrite_loopback_url("https://rekor.sigstore.dev", hosts) == "https://rekor.sigstore.dev"


def test_keyless_with_a_private_sigstore_names_its_services_and_trusted_root() -> None:
    identity = signing_identity(
        SigningMode.KEYLESS,
        has_key=False,
        has_token=True,
        fulcio_url="http://127.0.0.1:5555",
        rekor_url="http://127.0.0.1:5556",
        timestamp_url="http://127.0.0.1:5557/api/v1/timestamp",
        has_trusted_root=True,
    )
    assert identity is not None
    inside = identity.reached_through({"127.0.0.1:5555": "registry-5555:5555", "127.0.0.1:5557": "registry-5557:5557"})
    args = inside.sign_args("r/app@sha256:abc")
    assert "--fulcio-url=http://registry-5555:5555" in args and "--rekor-url=http://127.0.0.1:5556" in args
    assert "--timestamp-server-url=http://registry-5557:5557/api/v1/timestamp" in args
    assert args[args.index("--trusted-root") + 1] == "/run/shipyard/trusted_root.json"
    with pytest.raises(InvalidInput, match="--timestamp-url"):
        signing_identity(SigningMode.KEY, has_key=True, timestamp_url="http://127.0.0.1:5557")
    with pytest.raises(InvalidInput, match="--timestamp-url"):
        signing_identity(SigningMode.KEYLESS, has_key=False, has_token=True, timestamp_url="tsa.internal")


def test_a_trusted_root_becomes_the_pem_files_cosign_reads() -> None:
    import base64
    import json

    from shipyard.supply_chain.cosign import trust_files

    der = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
    root = {
        "certificateAuthorities": [{"certChain": {"certificates": [{"rawBytes": der}]}}],
        "tlogs": [{"publicKey": {"rawBytes": der}}],
        "ctlogs": [],
    }
    files = trust_files(json.dumps(root))
    assert set(files) == {"SIGSTORE_ROOT_FILE", "SIGSTORE_REKOR_PUBLIC_KEY"}
    assert files["SIGSTORE_ROOT_FILE"] == f"-----BEGIN CERTIFICATE-----\n{der}\n-----END CERTIFICATE-----\n"
    assert files["SIGSTORE_REKOR_PUBLIC_KEY"].startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(InvalidInput, match="--sigstore-trusted-root"):
        trust_files("[1, 2]")


def test_keyless_verification_failures_are_named() -> None:
    policy = trust_policy(has_key=False, certificate_identity_regexp="^https://github.com/acme/", certificate_oidc_issuer="https://issuer")
    got = (
        "none of the expected identities matched what was in the certificate, got subjects "
        "[https://github.com/x/y/.github/workflows/r.yml@refs/tags/v1] with issuer {}"
    )
    assert policy.explain(got.format("https://issuer")).startswith("wrong identity: signed by https://github.com/x/y/")
    assert policy.explain(got.format("https://other")).startswith("wrong issuer: the certificate was issued for a token from https://other")
    assert policy.explain("no matching signatures: signature not found in transparency log").startswith("no transparency-log entry")
    assert policy.explain("no matching signatures: empty key").startswith("signed by a key, not keyless")
    assert policy.explain("something else") == "something else"


def test_signing_failures_name_the_sigstore_service_as_the_user_wrote_it() -> None:
    from shipyard.supply_chain.cosign import explain_signing_error

    identity = signing_identity(SigningMode.KEYLESS, has_key=False, has_token=True, fulcio_url="http://127.0.0.1:5549")
    assert identity is not None
    line = 'getting key from Fulcio: retrieving cert: Post "http://registry-5549:5549/api/v2/signingCert": dial tcp: connection refused'
    explained = explain_signing_error(line, identity, {"127.0.0.1:5549": "registry-5549:5549"})
    assert explained.startswith("Fulcio (http://127.0.0.1:5549) is unreachable (connection refused)")
    assert "registry-5549" not in explained
    refused = 'retrieving cert: POST http://x/api/v1/signingCert returned 400: "There was an error processing the identity token"'
    assert "refused the OIDC identity token" in explain_signing_error(refused, identity)


def test_a_tokens_expiry_is_read_without_verifying_it() -> None:
    import base64
    import json

    from shipyard.supply_chain.cosign import token_expiry

    def jwt(claims: dict[str, object]) -> str:
        part = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJub25lIn0.{part}.sig"

    assert token_expiry(jwt({"exp": 1700000000})) == 1700000000
    assert token_expiry(jwt({"sub": "x"})) is None
    assert token_expiry("not-a-jwt") is None


def test_the_signers_identity_and_issuer_come_from_the_fulcio_certificate() -> None:
    import datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from shipyard.supply_chain.cosign import certificate_identity

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
    issuer = "https://token.actions.githubusercontent.com"
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), b"\x0c" + bytes([len(issuer)]) + issuer.encode()),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    assert certificate_identity(cert.public_bytes(serialization.Encoding.PEM).decode()) == (identity, issuer)
