"""Image references: normalisation, every documented violation, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.values.refs import ImageRef, parse_reference, parse_repository

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("acme/app:v1", "docker.io", "acme/app", "v1", None),
        ("index.docker.io/acme/app", "docker.io", "acme/app", None, None),
        ("ghcr.io/acme/app:1.2.3", "ghcr.io", "acme/app", "1.2.3", None),
        ("localhost:5000/app", "localhost:5000", "app", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000", "team/app", "1", None),
        ("[::1]:5000/app", "[::1]:5000", "app", None, None),
        (f"ghcr.io/acme/app@{D}", "ghcr.io", "acme/app", None, D),
        (f"ghcr.io/acme/app:1.0@{D}", "ghcr.io", "acme/app", "1.0", D),
        ("GHCR.IO/acme/app", "ghcr.io", "acme/app", None, None),
        ("ghcr.io/a/b.c_d__e-f--g/h", "ghcr.io", "a/b.c_d__e-f--g/h", None, None),
    ],
)
def test_parse_normalises(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    assert parse_reference(text) == ImageRef(registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("ghcr.io/Acme/app", "lower case"),
        ("ghcr.io/acme/app:", "ends with ':' but no tag"),
        ("ghcr.io/acme/app:-bad", "starts with '-'"),
        ("ghcr.io/acme/app:" + "a" * 129, "at most 128"),
        ("ghcr.io/acme/app:a b", "contains ' '"),
        ("ghcr.io/acme/app@md5:abcd", "unsupported algorithm"),
        ("ghcr.io/acme/app@sha256:abcd", "64 lower-case hex"),
        ("ghcr.io/acme/app@abcd", "no algorithm"),
        ("ghcr.io/acme//app", "empty path component"),
        ("GHCR.io//x:", "empty path component"),
        ("localhost:99999/app", "port 99999 is out of range"),
        ("localhost:0/app", "port 0 is out of range"),
        ("ghcr.io/acme/-app", "invalid repository component"),
        ("bad_host.io:x/app", "not a valid host"),
        ("ghcr.io/" + "a" * 260, "longer than 255"),
    ],
)
def test_violations_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_reference(text)
    assert message in str(err.value)


def test_repository_only_for_targets() -> None:
    assert str(parse_repository("ghcr.io/acme/app")) == "ghcr.io/acme/app"
    with pytest.raises(InvalidInput, match="carries a tag or digest"):
        parse_repository("ghcr.io/acme/app:1")


def test_familiar_and_with_helpers() -> None:
    ref = parse_reference("nginx:1.25")
    assert ref.familiar == "nginx:1.25"
    assert str(ref.with_digest(D)) == f"docker.io/library/nginx@{D}"
    assert str(ref.with_tag("2")) == "docker.io/library/nginx:2"


components = st.from_regex(r"[a-z0-9]{1,4}((\.|_|__|-{1,2})[a-z0-9]{1,4})?", fullmatch=True)
registries = st.sampled_from(["docker.io", "ghcr.io", "localhost:5000", "127.0.0.1:5001", "registry.example.com"])
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
digests = st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True)


@given(registries, st.lists(components, min_size=2, max_size=3), st.one_of(st.none(), tags), st.one_of(st.none(), digests))
def test_parse_format_round_trip(registry: str, path: list[str], tag: str | None, digest: str | None) -> None:
    ref = ImageRef(registry, "/".join(path), tag, digest)
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref
