"""The registry value decides its scheme once: https, except loopback registries (as Docker and
the Dagger engine treat them) and registries marked insecure; every client asks it."""

from __future__ import annotations

import pytest

from shipyard.registries.oci import OciRegistry
from shipyard.values.refs import Digest, Registry, parse_reference, split_namespace


@pytest.mark.parametrize(
    ("name", "insecure", "url"),
    [
        ("ghcr.io", None, "https://ghcr.io"),
        ("docker.io", None, "https://registry-1.docker.io"),
        ("127.0.0.1:5000", None, "http://127.0.0.1:5000"),
        ("localhost:5001", None, "http://localhost:5001"),
        ("[::1]:5002", None, "http://[::1]:5002"),
        ("registry.internal:5000", True, "http://registry.internal:5000"),
        ("127.0.0.1:5000", False, "https://127.0.0.1:5000"),
    ],
)
def test_the_scheme_is_decided_on_the_value_and_every_client_follows_it(name: str, insecure: bool | None, url: str) -> None:
    registry = Registry(name, insecure)
    assert registry.base_url() == url and registry.scheme == url.split(":", 1)[0]
    assert OciRegistry(registry).base == url


def test_a_client_reached_elsewhere_keeps_the_registry_s_scheme_and_name() -> None:
    client = OciRegistry(Registry("localhost:5000"), address="10.0.0.7:41234")
    assert client.base == "http://10.0.0.7:41234" and client.registry == "localhost:5000"


def test_a_reference_knows_its_registry_and_a_digest_its_parts() -> None:
    ref = parse_reference("127.0.0.1:5000/acme/app:1.0")
    assert ref.domain == Registry("127.0.0.1:5000") and ref.domain.port == 5000 and ref.domain.hostname == "127.0.0.1"
    assert parse_reference("nginx").domain.scheme == "https"
    digest = Digest.parse("sha256:" + "a" * 64)
    assert (digest.algorithm, digest.hex, str(digest)) == ("sha256", "a" * 64, "sha256:" + "a" * 64)
    assert split_namespace("acme/app/web") == ("acme", "app/web")
