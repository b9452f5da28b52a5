"""HTTP plumbing shared by the backends: auth challenges, pagination, errors that name the registry."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import anyio
import httpx
import stamina

from shipyard.errors import RegistryError
from shipyard.secrets import Credentials

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


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
    missing = response.extensions.get("shipyard_missing_scope")
    if missing:
        hint = f"the credentials for {registry} lack the scope {missing}: the token server did not grant it; use credentials with it"
    elif response.extensions.get("shipyard_token_refused"):
        hint = f"{response.extensions['shipyard_token_refused']}: check the username and password"
    message = f"{doing} failed" + (f": {detail}" if detail else "") + (f" ({hint})" if hint else "")
    return RegistryError(registry, message, response.status_code)


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password.reveal()}".encode()
    return "Basic " + base64.b64encode(raw).decode()


_REPOSITORY_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)(?:/|$)")
TOKEN_MARGIN = 5.0  # seconds: a token this close to its expiry is not sent again (a new one is asked for)
DEFAULT_TOKEN_LIFETIME = 60  # the token spec's default when the server gives no expires_in


def repository_of(path: str) -> str:
    """The repository an API path addresses (``/v2/acme/app/blobs/…`` -> ``acme/app``); ``""``
    for registry-wide paths (``/v2/``, ``/v2/_catalog``)."""
    match = _REPOSITORY_PATH.match(path)
    return match["name"] if match else ""


def challenge_scopes(challenge: str, request: httpx.Request) -> list[str]:
    """The scopes a Bearer challenge asks for (space-separated in ``scope``), plus ``pull`` on the
    source of a cross-repository mount, which some registries leave out of the challenge."""
    params = dict(_CHALLENGE_PARAM.findall(challenge))
    scopes: list[str] = str(params.get("scope", "")).split()
    source = request.url.params.get("from") if request.url.params.get("mount") else None
    if source and not any(s.startswith(f"repository:{source}:") for s in scopes):
        scopes.append(f"repository:{source}:pull")
    return scopes


def granted_access(token: str) -> dict[str, set[str]]:
    """Repository -> actions a Docker registry token grants (its ``access`` claim), read without
    verifying it (the registry does that): to say which scope the credentials lack."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    out: dict[str, set[str]] = {}
    for entry in claims.get("access") or [] if isinstance(claims, dict) else []:
        if isinstance(entry, dict) and entry.get("type") == "repository":
            out.setdefault(str(entry.get("name")), set()).update(str(a) for a in entry.get("actions") or [])
    return out


def missing_scopes(scopes: list[str], granted: dict[str, set[str]]) -> list[str]:
    """``repository:<name>:<action>`` for each action asked for and not granted."""
    missing = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository":
            continue
        missing += [f"{a} on {name}" for a in actions.split(",") if a not in granted.get(name, set()) and a != "*"]
    return missing


@dataclass
class _Token:
    header: str
    expires: float  # time.monotonic() deadline

    def fresh(self) -> bool:
        return time.monotonic() < self.expires - TOKEN_MARGIN


class ChallengeAuth(httpx.Auth):
    """Answers a registry's ``WWW-Authenticate`` challenge: Basic, or Bearer via its token realm.

    Bearer tokens are scoped (Docker's token spec): one is kept per repository and replaced when
    a request needs more (``push`` after ``pull``; ``pull`` on a mount's source as well), when it
    expires (``expires_in``) and when the registry refuses it. A request the token server would
    not grant enough for comes back with ``extensions["shipyard_missing_scope"]`` set, for the
    error to name what the credentials lack.
    """

    requires_response_body = True

    def __init__(self, registry: str, credentials: Credentials | None) -> None:
        self.registry = registry
        self.credentials = credentials
        self._basic: str | None = None
        self._tokens: dict[str, _Token] = {}
        self.tokens_fetched = 0

    def _header(self, repository: str) -> str | None:
        if self._basic:
            return self._basic
        token = self._tokens.get(repository)
        return token.header if token is not None and token.fresh() else None

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        repository = repository_of(request.url.path)
        header = self._header(repository)
        if header:
            request.headers["Authorization"] = header
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if not self.credentials:
                return
            self._basic = basic_header(self.credentials)
            request.headers["Authorization"] = self._basic
            yield request
            return
        if scheme != "bearer":
            return
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        scopes = challenge_scopes(challenge, request)
        query = [("service", params["service"])] if "service" in params else []
        token_request = httpx.Request("GET", params.get("realm", ""), params=query + [("scope", s) for s in scopes])
        if self.credentials:
            token_request.headers["Authorization"] = basic_header(self.credentials)
        token_response = yield token_request
        if token_response.status_code != 200:
            realm = params.get("realm", "")
            response.extensions["shipyard_token_refused"] = f"the token server {realm} answered {token_response.status_code}"
            return
        data = token_response.json()
        token = data.get("token") or data.get("access_token")
        if not token:
            return
        self.tokens_fetched += 1
        lifetime = float(data.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        self._tokens[repository] = _Token(f"Bearer {token}", time.monotonic() + lifetime)
        request.headers["Authorization"] = f"Bearer {token}"
        retried = yield request
        if retried.status_code in (401, 403):
            missing = missing_scopes(scopes, granted_access(token))
            if missing:
                retried.extensions["shipyard_missing_scope"] = ", ".join(missing)


# Answers worth asking again: rate limits and every server error but "not implemented".
RETRY_STATUSES = frozenset({429, *range(500, 600)}) - {501, 505}
MAX_RETRY_AFTER = 30.0
DEFAULT_TIMEOUT = 30.0  # seconds for one request to connect, send or answer (--registry-timeout)


class RetryableStatus(Exception):
    """An answer the retry layer asks again for (429, 5xx); carries the response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"HTTP {response.status_code}")


class OutcomeUnknown(RegistryError):
    """A write that may or may not have happened (it timed out or the connection dropped after
    the request was sent): read the registry back before deciding anything."""


def retry_after(response: httpx.Response) -> float | None:
    """The server's ``Retry-After`` in seconds (capped), when it sent one in seconds."""
    header = response.headers.get("retry-after", "").strip()
    return min(float(header), MAX_RETRY_AFTER) if header.isdigit() else None


def retry_delay(response: httpx.Response, attempt: int, base: float) -> float:
    """Seconds to wait before retrying: the server's ``Retry-After`` (capped), else backoff."""
    hinted = retry_after(response)
    return hinted if hinted is not None else float(base * 2**attempt)


def should_retry(exc: Exception) -> bool | float:
    """The retry layer's one rule: 429 and 5xx answers (waiting ``Retry-After`` when given),
    timeouts and broken connections; nothing else (a 4xx is an answer, not an accident)."""
    if isinstance(exc, RetryableStatus):
        hinted = retry_after(exc.response)
        return hinted if hinted is not None else True
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


def retrying(attempts: int, base: float) -> Any:
    """The one retry policy (stamina: exponential backoff with jitter, ``Retry-After`` honoured)."""
    return stamina.retry_context(
        on=should_retry, attempts=attempts, timeout=None, wait_initial=base, wait_max=max(base * 16, base), wait_jitter=base
    )


def transport_failure(name: str, doing: str, exc: httpx.TransportError, timeout: float, attempts: int) -> RegistryError:
    """What a request that never got an answer means, in words a user can act on."""
    if isinstance(exc, httpx.TimeoutException):
        what = {
            httpx.ConnectTimeout: "connecting",
            httpx.WriteTimeout: "sending",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc), "waiting for the answer")
        message = (
            f"{doing} timed out ({what} took over {timeout:g}s, {attempts} attempt(s)): the registry is slow or stuck; "
            "raise --registry-timeout or check the registry"
        )
    else:
        message = f"{doing} failed: {exc.__class__.__name__}: {exc or 'connection broken'} ({attempts} attempt(s); is it reachable?)"
    return OutcomeUnknown(name, message) if _maybe_sent(exc) else RegistryError(name, message)


def _maybe_sent(exc: httpx.TransportError) -> bool:
    """Could the server have acted on the request? Not if it never connected."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


NOT_RETRIED = "shipyard_not_retried"  # a request extension: this request is part of a unit retried as a whole
_ATTEMPTS = "shipyard_attempts"  # a request extension the transport sets: how many times it was sent


class RetryingTransport(httpx.AsyncBaseTransport):
    """The one retry layer, under auth (go-containerregistry's ``transport/retry.go``): every request
    a client sends (token requests too) is retried by :func:`retrying`'s policy on 429, 5xx,
    timeouts and broken connections, at most ``concurrency`` in flight. The last answer is returned
    even when it is an error status; a request that never got one raises httpx's error, with the
    number of attempts in its request's extensions (:func:`attempts_of`). A request sent with the
    extension ``NOT_RETRIED`` goes once: it belongs to a sequence its caller retries as a whole."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, attempts: int, base: float, concurrency: int = 8) -> None:
        self.inner = inner
        self.attempts = attempts
        self.base = base
        self._limit = anyio.CapacityLimiter(concurrency)

    async def _once(self, request: httpx.Request) -> httpx.Response:
        request.extensions[_ATTEMPTS] = int(request.extensions.get(_ATTEMPTS, 0)) + 1
        async with self._limit:
            return await self.inner.handle_async_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.extensions.get(NOT_RETRIED):
            return await self._once(request)
        try:
            async for attempt in retrying(self.attempts, self.base):
                with attempt:
                    response = await self._once(request)
                    if response.status_code in RETRY_STATUSES:
                        await response.aread()  # small error bodies: kept for the last answer's message
                        await response.aclose()
                        raise RetryableStatus(response)
                    return response
        except RetryableStatus as exc:
            return exc.response
        except httpx.TransportError as exc:
            if not _has_request(exc):  # a transport that raised its own error (a test's): name the request
                exc.request = request
            raise
        raise AssertionError("unreachable: the retry context returns or raises")  # pragma: no cover

    async def aclose(self) -> None:
        await self.inner.aclose()


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        return exc.request is not None
    except RuntimeError:  # httpx raises for an error created without one
        return False


def attempts_of(exc: httpx.TransportError) -> int:
    """How many times the request that failed with ``exc`` was sent (by :class:`RetryingTransport`)."""
    return int(exc.request.extensions.get(_ATTEMPTS, 1)) if _has_request(exc) else 1


class ApiClient:
    """An async HTTP client for one registry or API: ``async with``; every request goes through
    one :class:`RetryingTransport` (at most ``concurrency`` in flight; retried on 429, 5xx,
    timeouts and broken connections), under the client's auth; failures become a
    :class:`RegistryError` naming the service and what was slow."""

    def __init__(
        self,
        base: str,
        *,
        concurrency: int = 8,
        retries: int = 3,
        retry_base: float = 0.5,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        **client_options: Any,
    ) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.retry_base = retry_base
        layer = RetryingTransport(transport or httpx.AsyncHTTPTransport(), attempts=retries + 1, base=retry_base, concurrency=concurrency)
        self.http = httpx.AsyncClient(base_url=self.base, timeout=timeout, transport=layer, **client_options)

    @property
    def name(self) -> str:
        return httpx.URL(self.base).netloc.decode() or self.base

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.http.aclose()

    def retrying(self) -> Any:
        """This client's retry policy, for a sequence of requests retried as one (a blob upload)."""
        return retrying(self.retries + 1, self.retry_base)

    async def request_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request sent once, httpx's errors as they are: a step of a sequence its caller
        retries as a whole through :meth:`retrying` (and turns failures into errors itself)."""
        return await self.http.request(method, url, extensions={NOT_RETRIED: True}, **kwargs)

    async def send(self, method: str, url: str, doing: str, **kwargs: Any) -> httpx.Response:
        """One request, retried by the transport; returns the last answer, even an error status;
        raises a :class:`RegistryError` (an :class:`OutcomeUnknown` if it may have been acted on)
        only when no answer came."""
        try:
            return await self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise transport_failure(self.name, doing, exc, self.timeout, attempts_of(exc)) from None
