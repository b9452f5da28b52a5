"""ApiClient: bounded concurrency and retries on rate limits and gateway errors."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import httpx
import pytest

from shipyard.registries.http import ApiClient, retry_delay
from shipyard.registries.oci import OciRegistry
from shipyard.values.refs import Registry


def test_at_most_eight_requests_are_in_flight() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={})

    async def go() -> None:
        async with ApiClient("http://registry.test", transport=httpx.MockTransport(handler)) as client, anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(client.send, "GET", f"/v2/app/manifests/{i}", "reading")

    anyio.run(go)
    assert peak == 8


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_rate_limits_and_gateway_errors_are_retried(status: int) -> None:
    answers = [httpx.Response(status, headers={"Retry-After": "0"}), httpx.Response(status), httpx.Response(200, json={"ok": True})]
    seen = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return answers.pop(0)

    async def go() -> httpx.Response:
        async with ApiClient("http://registry.test", retry_base=0.0, transport=httpx.MockTransport(handler)) as client:
            return await client.send("GET", "/v2/app/tags/list", "listing")

    assert anyio.run(go).status_code == 200 and len(seen) == 3


def test_retries_are_bounded_and_other_errors_are_not_retried() -> None:
    calls = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(429 if request.url.path.endswith("limited") else 404)

    async def go(path: str) -> int:
        async with ApiClient("http://registry.test", retries=2, retry_base=0.0, transport=httpx.MockTransport(handler)) as client:
            return (await client.send("GET", path, "reading")).status_code

    assert anyio.run(go, "/limited") == 429 and calls["n"] == 3
    calls["n"] = 0
    assert anyio.run(go, "/missing") == 404 and calls["n"] == 1


@pytest.mark.parametrize(
    ("header", "attempt", "expected"), [("7", 0, 7.0), ("3600", 0, 30.0), ("", 2, 2.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0, 0.5)]
)
def test_retry_delay(header: str, attempt: int, expected: float) -> None:
    response = httpx.Response(429, headers={"Retry-After": header} if header else {})
    assert retry_delay(response, attempt, 0.5) == expected


# One retry layer: every server error but 501, timeouts and broken connections -----------------

from shipyard.errors import RegistryError  # noqa: E402
from shipyard.registries.http import OutcomeUnknown, should_retry  # noqa: E402


def _client(handler: Callable[[httpx.Request], Coroutine[None, None, httpx.Response]], **options: Any) -> ApiClient:
    return ApiClient("http://registry.test", retry_base=0.0, transport=httpx.MockTransport(handler), **options)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_every_server_error_and_rate_limit_is_retried(status: int) -> None:
    answers = [httpx.Response(status), httpx.Response(200)]

    async def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    async def go() -> int:
        async with _client(handler) as client:
            return (await client.send("PUT", "/v2/app/manifests/latest", "writing")).status_code

    assert anyio.run(go) == 200 and answers == []


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("Server disconnected"), httpx.WriteTimeout("w")],
)
def test_timeouts_and_broken_connections_are_retried(error: Exception) -> None:
    calls = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return httpx.Response(200)

    async def go() -> int:
        async with _client(handler) as client:
            return (await client.send("HEAD", "/v2/app/manifests/latest", "reading")).status_code

    assert anyio.run(go) == 200 and calls["n"] == 2


def test_not_implemented_is_an_answer_not_an_accident() -> None:
    assert should_retry(Exception()) is False
    assert should_retry(httpx.UnsupportedProtocol("ftp")) is False


def test_retry_after_is_the_backoff_hint() -> None:
    from shipyard.registries.http import RetryableStatus

    assert should_retry(RetryableStatus(httpx.Response(429, headers={"Retry-After": "3"}))) == 3.0
    assert should_retry(RetryableStatus(httpx.Response(503))) is True


def test_a_request_that_keeps_timing_out_names_what_was_slow_and_the_option() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    async def go() -> None:
        async with _client(handler, retries=2, timeout=7) as client:
            await client.send("PUT", "/v2/app/manifests/latest", "writing app:latest")

    with pytest.raises(OutcomeUnknown) as caught:  # it may have landed: the caller reads it back
        anyio.run(go)
    message = str(caught.value)
    assert "writing app:latest timed out" in message and "over 7s" in message and "3 attempt(s)" in message
    assert "--registry-timeout" in message and "reachable" not in message


def test_a_registry_that_never_accepts_a_connection_is_not_an_unknown_outcome() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async def go() -> None:
        async with _client(handler, retries=1) as client:
            await client.send("GET", "/v2/", "reaching the registry")

    with pytest.raises(RegistryError) as caught:
        anyio.run(go)
    assert not isinstance(caught.value, OutcomeUnknown) and "is it reachable" in str(caught.value)


# Auth sits on the retry layer: a token request is retried like any other -----------------------


def test_a_token_server_that_fails_once_is_asked_again() -> None:
    calls: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/token":
            return httpx.Response(503) if calls.count("/token") == 1 else httpx.Response(200, json={"token": "t"})
        if request.headers.get("authorization") != "Bearer t":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="http://registry.test/token",scope="x"'})
        return httpx.Response(200, json={"tags": ["1"]})

    async def go() -> list[str]:
        async with OciRegistry(Registry("registry.test", insecure=True), retries=2, transport=httpx.MockTransport(handler)) as reg:
            return await reg.list_tags("app")

    assert anyio.run(go) == ["1"] and calls.count("/token") == 2


def test_a_lost_put_restarts_the_upload_from_a_new_session_and_the_put_is_not_resent_on_its_own() -> None:
    calls: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "HEAD":
            return httpx.Response(404)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": f"/v2/app/blobs/uploads/{calls.count('POST /v2/app/blobs/uploads/')}"})
        return httpx.Response(503 if request.url.path.endswith("/1") else 201)

    async def go() -> bool:
        async with OciRegistry(Registry("registry.test", insecure=True), transport=httpx.MockTransport(handler)) as reg:
            return await reg.push_blob("app", "sha256:" + "a" * 64, b"x")

    assert anyio.run(go) is True
    assert [c for c in calls if c.startswith("PUT")] == ["PUT /v2/app/blobs/uploads/1", "PUT /v2/app/blobs/uploads/2"]
