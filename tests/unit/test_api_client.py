"""ApiClient: bounded concurrency and retries on rate limits and gateway errors."""

from __future__ import annotations

import anyio
import httpx
import pytest

from shipyard.registries.http import ApiClient, retry_delay


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
