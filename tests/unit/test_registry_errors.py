"""Registry errors name the registry, the HTTP status and what to do."""

from __future__ import annotations

import anyio
import httpx
import pytest

from shipyard.errors import RegistryError
from shipyard.registries.http import fail
from shipyard.registries.oci import OciRegistry


def test_an_unreachable_registry_is_named() -> None:
    async def go() -> None:
        async with OciRegistry("127.0.0.1:1") as reg:
            await reg.list_tags("acme/app")

    with pytest.raises(RegistryError) as err:
        anyio.run(go)
    assert str(err.value).startswith("registry 127.0.0.1:1:") and "reachable" in str(err.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            "authentication required (check the username and token)",
        ),
        (403, {"message": "Must have admin rights"}, "Must have admin rights (the token lacks permission"),
        (405, {"errors": [{"code": "UNSUPPORTED", "message": "The operation is unsupported."}]}, "are deletes enabled?"),
        (500, None, "deleting x failed"),
    ],
)
def test_http_failures_carry_the_registry_message_and_a_hint(status: int, body: object, expected: str) -> None:
    request = httpx.Request("DELETE", "http://r.example/v2/x/manifests/sha256:1")
    response = httpx.Response(status, json=body, request=request) if body is not None else httpx.Response(status, text="", request=request)
    error = fail("r.example", response, "deleting x")
    assert error.status == status and error.registry == "r.example"
    assert str(error).startswith(f"registry r.example (HTTP {status}): deleting x failed")
    assert expected in str(error)
