"""cosign command lines and signing options, key and keyless.

Keyless signing needs Fulcio and Rekor, which this machine cannot reach: its command
construction and error paths are tested here as unit tests (key mode runs for real in the
integration tests). Secrets never appear in a command line: only the paths cosign reads them from.
"""

from __future__ import annotations

import pytest

from shipyard.plan.config import SigningMode
from shipyard.plan.cosign import (
    DEFAULT_FULCIO_URL,
    DEFAULT_REKOR_URL,
    KEY_PATH,
    PUBLIC_KEY_PATH,
    TOKEN_PATH,
    signing_identity,
    trust_policy,
)
from shipyard.plan.errors import InvalidInput

REF = "ghcr.io/acme/app@sha256:" + "a" * 64


def test_no_signing_means_no_identity() -> None:
    assert signing_identity(SigningMode.NONE, has_key=True) is None


def test_key_mode_signs_recursively_offline_by_digest() -> None:
    identity = signing_identity(SigningMode.KEY, has_key=True)
    assert identity is not None
    assert identity.sign_args(REF) == ["cosign", "sign", "--yes", "--recursive", "--key", KEY_PATH, "--tlog-upload=false", REF]
    insecure = identity.sign_args("registry-5000:5000/acme/app@sha256:" + "a" * 64, insecure=True)
    assert insecure[-3:-1] == ["--allow-insecure-registry", "--allow-http-registry"]


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
        ({"has_key": True, "has_token": True}, "--cosign-key"),
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
    with pytest.raises(InvalidInput, match=r"--cosign-key file:cosign\.key"):
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
