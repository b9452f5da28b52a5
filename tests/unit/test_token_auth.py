"""The Bearer token flow (Docker's token spec) and Docker Hub's names, as pure units: the auth
flow is driven step by step with the requests and answers a registry and its token server give."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from shipyard.auth import canonical_registry, credentials_for
from shipyard.registries.backends.select import BackendKind, resolve_kind
from shipyard.registries.http import (
    ChallengeAuth,
    challenge_scopes,
    fail,
    granted_access,
    missing_scopes,
    repository_of,
)
from shipyard.registries.oci import OciRegistry
from shipyard.secrets import Credentials, SecretValue
from shipyard.values.refs import api_host, parse_reference, parse_repository

REALM = "http://127.0.0.1:5010/token"


def jwt(access: list[dict[str, Any]]) -> str:
    """A token shaped like a token server's (the flow reads its claims; the registry checks the signature)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'access': access})}.c2ln"


def challenge(scope: str) -> httpx.Response:
    header = f'Bearer realm="{REALM}",service="registry",scope="{scope}"'
    return httpx.Response(401, headers={"www-authenticate": header})


def token_answer(access: list[dict[str, Any]], expires_in: int = 300) -> httpx.Response:
    return httpx.Response(200, json={"token": jwt(access), "expires_in": expires_in})


@pytest.mark.parametrize(
    ("path", "repository"),
    [
        ("/v2/acme/app/blobs/sha256:ab", "acme/app"),
        ("/v2/acme/team/app/manifests/1.0", "acme/team/app"),
        ("/v2/acme/app/blobs/uploads/", "acme/app"),
        ("/v2/acme/app/tags/list", "acme/app"),
        ("/v2/acme/app/referrers/sha256:ab", "acme/app"),
        ("/v2/", ""),
        ("/v2/_catalog", ""),
    ],
)
def test_the_repository_a_request_addresses_keys_its_token(path: str, repository: str) -> None:
    assert repository_of(path) == repository


def test_a_mount_asks_for_pull_on_its_source_even_when_the_challenge_does_not() -> None:
    request = httpx.Request("POST", "http://r/v2/acme/b/blobs/uploads/?mount=sha256:ab&from=acme/a")
    header = 'Bearer realm="x",service="s",scope="repository:acme/b:pull,push"'
    assert challenge_scopes(header, request) == ["repository:acme/b:pull,push", "repository:acme/a:pull"]
    both = 'Bearer realm="x",scope="repository:acme/b:pull,push repository:acme/a:pull"'
    assert challenge_scopes(both, request) == ["repository:acme/b:pull,push", "repository:acme/a:pull"]


def test_the_missing_scope_is_what_was_asked_and_not_granted() -> None:
    granted = granted_access(jwt([{"type": "repository", "name": "acme/app", "actions": ["pull"]}]))
    assert granted == {"acme/app": {"pull"}}
    assert missing_scopes(["repository:acme/app:pull,push"], granted) == ["push on acme/app"]
    assert missing_scopes(["repository:acme/app:pull"], granted) == []
    assert granted_access("not-a-jwt") == {}


def drive(auth: ChallengeAuth, request: httpx.Request, answers: list[httpx.Response]) -> tuple[list[httpx.Request], httpx.Response]:
    """Run the auth flow: each request it sends gets the next answer; returns what it sent (as
    sent: the flow reuses one request object) and the last answer."""
    flow = auth.auth_flow(request)
    first = next(flow)
    sent = [httpx.Request(first.method, first.url, headers=first.headers)]
    answer = answers[0]
    for answer in answers:
        answer.request = first
        try:
            following = flow.send(answer)
        except StopIteration:
            return sent, answer
        sent.append(httpx.Request(following.method, following.url, headers=following.headers))
    return sent, answer


def test_a_push_after_a_pull_escalates_the_token_and_the_next_request_reuses_it() -> None:
    auth = ChallengeAuth("127.0.0.1:5010", Credentials("pusher", SecretValue("pw")))
    pull = [{"type": "repository", "name": "acme/app", "actions": ["pull"]}]
    both = [{"type": "repository", "name": "acme/app", "actions": ["pull", "push"]}]
    sent, last = drive(
        auth,
        httpx.Request("HEAD", "http://127.0.0.1:5010/v2/acme/app/blobs/sha256:ab"),
        [challenge("repository:acme/app:pull"), token_answer(pull), httpx.Response(200)],
    )
    assert last.status_code == 200
    token_request = sent[1]
    assert str(token_request.url).startswith(REALM) and token_request.url.params.get_list("scope") == ["repository:acme/app:pull"]
    assert token_request.headers["authorization"].startswith("Basic ")
    # A push: the pull token is refused with a challenge for pull,push; a new token is asked for.
    sent, last = drive(
        auth,
        httpx.Request("POST", "http://127.0.0.1:5010/v2/acme/app/blobs/uploads/"),
        [challenge("repository:acme/app:pull,push"), token_answer(both), httpx.Response(202)],
    )
    assert sent[0].headers["authorization"] == f"Bearer {jwt(pull)}"
    assert sent[1].url.params.get_list("scope") == ["repository:acme/app:pull,push"]
    assert last.status_code == 202 and auth.tokens_fetched == 2
    # The next request to the repository carries the escalated token from the start.
    sent, last = drive(auth, httpx.Request("GET", "http://127.0.0.1:5010/v2/acme/app/tags/list"), [httpx.Response(200)])
    assert sent[0].headers["authorization"] == f"Bearer {jwt(both)}" and len(sent) == 1


def test_an_expired_token_is_not_sent_again() -> None:
    auth = ChallengeAuth("127.0.0.1:5010", Credentials("pusher", SecretValue("pw")))
    pull = [{"type": "repository", "name": "acme/app", "actions": ["pull"]}]
    request = httpx.Request("GET", "http://127.0.0.1:5010/v2/acme/app/tags/list")
    drive(auth, request, [challenge("repository:acme/app:pull"), token_answer(pull, expires_in=1), httpx.Response(200)])
    sent, _ = drive(auth, httpx.Request("GET", "http://127.0.0.1:5010/v2/acme/app/tags/list"), [challenge("x"), token_answer(pull)])
    assert "authorization" not in sent[0].headers  # within the safety margin of its expiry: asked for anew


def test_a_token_without_push_names_the_missing_scope_in_the_error() -> None:
    auth = ChallengeAuth("127.0.0.1:5010", Credentials("reader", SecretValue("pw")))
    pull = [{"type": "repository", "name": "acme/app", "actions": ["pull"]}]
    _, last = drive(
        auth,
        httpx.Request("POST", "http://127.0.0.1:5010/v2/acme/app/blobs/uploads/"),
        [challenge("repository:acme/app:pull,push"), token_answer(pull), challenge("repository:acme/app:pull,push")],
    )
    message = str(fail("127.0.0.1:5010", last, "uploading sha256:ab to acme/app"))
    assert "127.0.0.1:5010" in message and "lack the scope push on acme/app" in message, message


@pytest.mark.parametrize("name", ["docker.io/acme/app", "index.docker.io/acme/app", "registry-1.docker.io/acme/app", "acme/app"])
def test_every_docker_hub_name_is_one_registry_for_credentials_pushes_and_cleanup(name: str) -> None:
    ref = parse_reference(f"{name}:1.0")
    assert (ref.registry, ref.repository) == ("docker.io", "acme/app")
    assert parse_repository(name).registry == "docker.io"
    assert api_host(ref.registry) == "registry-1.docker.io"
    assert OciRegistry(ref.registry).base == "https://registry-1.docker.io"
    assert resolve_kind(name, BackendKind.AUTO) is BackendKind.DOCKERHUB
    hub = Credentials("acme-bot", SecretValue("token"))
    host = name.split("/", 1)[0] if name.count("/") > 1 else "docker.io"
    assert canonical_registry(host) == "docker.io"
    assert credentials_for({"docker.io": hub}, host) is hub


def test_a_library_image_and_other_registries_keep_their_names() -> None:
    assert parse_reference("nginx:1.25").repository == "library/nginx"
    assert api_host("ghcr.io") == "ghcr.io" and api_host("127.0.0.1:5010") == "127.0.0.1:5010"
    assert OciRegistry("127.0.0.1:5010").base == "http://127.0.0.1:5010"
