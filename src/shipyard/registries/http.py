"""HTTP plumbing shared by the backends: auth challenges, pagination, errors that name the registry."""

from __future__ import annotations

import base64
import re
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from shipyard.plan.config import is_loopback_registry
from shipyard.plan.errors import RegistryError
from shipyard.secrets import Credentials

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def base_url(registry: str, plain_http: bool | None = None) -> str:
    """HTTPS, except for loopback registries (as Docker and the Dagger engine treat them)."""
    insecure = is_loopback_registry(registry) if plain_http is None else plain_http
    return f"{'http' if insecure else 'https'}://{registry}"


def next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, resolved against the request URL."""
    match = _LINK_NEXT.search(response.headers.get("link", ""))
    return str(response.url.join(match.group(1))) if match else None


def fail(registry: str, response: httpx.Response, doing: str) -> RegistryError:
    """A RegistryError for an unexpected response, with the registry's own message when it sent one."""
    detail = ""
    try:
        body: Any = response.json()
        if isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list) and errors:
                detail = "; ".join(str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict))
            else:
                detail = str(body.get("message") or body.get("detail") or "")
    except ValueError:
        detail = response.text[:200]
    hint = {
        401: "check the username and token",
        403: "the token lacks permission (it needs delete/write scope for this repository)",
        404: "check the repository name",
        405: "the registry does not allow this operation (are deletes enabled?)",
        429: "rate limited: retry later",
    }.get(response.status_code, "")
    message = f"{doing} failed" + (f": {detail}" if detail else "") + (f" ({hint})" if hint else "")
    return RegistryError(registry, message, response.status_code)


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password.reveal()}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class ChallengeAuth(httpx.Auth):
    """Answers a registry's ``WWW-Authenticate`` challenge: Basic, or Bearer via its token realm."""

    requires_response_body = True

    def __init__(self, registry: str, credentials: Credentials | None) -> None:
        self.registry = registry
        self.credentials = credentials
        self._header: str | None = None

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        if self._header:
            request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if not self.credentials:
                return
            self._header = basic_header(self.credentials)
        elif scheme == "bearer":
            params = dict(_CHALLENGE_PARAM.findall(challenge))
            query = {k: v for k, v in params.items() if k in ("service", "scope")}
            token_request = httpx.Request("GET", params.get("realm", ""), params=query)
            if self.credentials:
                token_request.headers["Authorization"] = basic_header(self.credentials)
            token_response = yield token_request
            if token_response.status_code != 200:
                return
            data = token_response.json()
            token = data.get("token") or data.get("access_token")
            if not token:
                return
            self._header = f"Bearer {token}"
        else:
            return
        request.headers["Authorization"] = self._header
        yield request


RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 30.0


def retry_delay(response: httpx.Response, attempt: int, base: float) -> float:
    """Seconds to wait before retrying: the server's ``Retry-After`` (capped), else backoff."""
    header = response.headers.get("retry-after", "")
    if header.strip().isdigit():
        return min(float(header), MAX_RETRY_AFTER)
    return float(base * 2**attempt)


class ApiClient:
    """An async HTTP client for one registry or API: ``async with``; at most ``concurrency``
    requests in flight; 429 and gateway errors retried with backoff (``Retry-After`` honoured);
    transport errors become a :class:`RegistryError` that names the service."""

    def __init__(self, base: str, *, concurrency: int = 8, retries: int = 3, retry_base: float = 0.5, **client_options: Any) -> None:
        self.base = base.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base, timeout=30.0, **client_options)
        self.retries = retries
        self.retry_base = retry_base
        self._limit = anyio.CapacityLimiter(concurrency)

    @property
    def name(self) -> str:
        return httpx.URL(self.base).netloc.decode() or self.base

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.http.aclose()

    async def send(self, method: str, url: str, doing: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                async with self._limit:
                    response = await self.http.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise RegistryError(self.name, f"{doing} failed: {exc.__class__.__name__}: {exc} (is it reachable?)") from None
            if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                return response
            await anyio.sleep(retry_delay(response, attempt, self.retry_base))
            attempt += 1
