"""Local stand-ins for the GitHub Packages API (+ ghcr.io's registry API) and the Docker Hub API.

They implement only the documented endpoints Shipyard calls, with the documented request and
response shapes: paging (GitHub's ``Link`` header, Docker Hub's ``next``), auth (GitHub bearer
tokens, ghcr.io's registry token challenge, Docker Hub's ``/v2/auth/token``), and the error
statuses (401 bad credentials, 403 missing scope, 404 unknown package/tag). Every request is
logged so tests can assert exactly what was called. These are contract tests, not live tests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class _Server:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _dispatch(self, method: str) -> None:
                owner.requests.append((method, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = owner.handle(method, self.path, dict(self.headers.items()), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Type" not in headers and data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{host.decode() if isinstance(host, bytes) else host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def calls(self, method: str) -> list[str]:
        return [p for m, p in self.requests if m == method]


@dataclass
class Version:
    id: int
    digest: str
    tags: list[str]
    created_at: str
    manifest: dict[str, Any] | None = None  # served by the registry API; None for artifacts


@dataclass
class FakeGitHub(_Server):
    """GitHub Packages REST API for one container package, plus ghcr.io's registry endpoints."""

    owner: str = "acme"
    package: str = "app"
    owner_kind: str = "orgs"  # "orgs" or "users"
    tokens: dict[str, str] = field(default_factory=lambda: {"ghp_admin": "delete", "ghp_read": "read"})
    page_cap: int = 100
    versions: list[Version] = field(default_factory=list)

    def __post_init__(self) -> None:
        _Server.__init__(self)

    def _base(self) -> str:
        return f"/{self.owner_kind}/{self.owner}/packages/container/{quote(self.package, safe='')}/versions"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(path)
        if parts.path.startswith("/v2/") or parts.path == "/token":
            return self._registry(parts.path, parse_qs(parts.query), headers)
        auth = headers.get("Authorization", "")
        scope = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if scope is None:
            return 401, {}, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        base = self._base()
        if method == "GET" and parts.path == base:
            query = parse_qs(parts.query)
            per_page = min(int(query.get("per_page", ["30"])[0]), self.page_cap)
            page = int(query.get("page", ["1"])[0])
            rows = self.versions[(page - 1) * per_page : page * per_page]
            headers_out = {}
            last = max(1, -(-len(self.versions) // per_page))
            if page < last:
                link = f"{self.url}{base}?per_page={per_page}"
                headers_out["Link"] = f'<{link}&page={page + 1}>; rel="next", <{link}&page={last}>; rel="last"'
            return 200, headers_out, [self._version_json(v) for v in rows]
        match = re.fullmatch(re.escape(base) + r"/(\d+)", parts.path)
        if method == "DELETE" and match:
            if scope != "delete":
                return (
                    403,
                    {},
                    {
                        "message": "You must have admin permissions or the delete:packages scope",
                        "documentation_url": "https://docs.github.com/rest",
                    },
                )
            version = next((v for v in self.versions if v.id == int(match.group(1))), None)
            if version is None:
                return 404, {}, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            self.versions.remove(version)
            return 204, {}, None
        return 404, {}, {"message": "Package not found.", "documentation_url": "https://docs.github.com/rest"}

    def _version_json(self, v: Version) -> dict[str, Any]:
        return {
            "id": v.id,
            "name": v.digest,
            "url": f"{self.url}{self._base()}/{v.id}",
            "package_html_url": f"https://github.com/{self.owner}/packages/container/package/{self.package}",
            "created_at": v.created_at,
            "updated_at": v.created_at,
            "html_url": f"https://github.com/{self.owner}/packages/container/{self.package}/{v.id}",
            "metadata": {"package_type": "container", "container": {"tags": v.tags}},
        }

    def _registry(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        repo = f"{self.owner}/{self.package}"
        if path == "/token":
            return 200, {}, {"token": "ghcr-registry-token"}
        if headers.get("Authorization") != "Bearer ghcr-registry-token":
            challenge = f'Bearer realm="{self.url}/token",service="ghcr.io",scope="repository:{repo}:pull"'
            return 401, {"WWW-Authenticate": challenge}, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        match = re.fullmatch(rf"/v2/{re.escape(repo)}/manifests/(sha256:[0-9a-f]{{64}})", path)
        version = next((v for v in self.versions if match and v.digest == match.group(1)), None)
        if version is None or version.manifest is None:
            return 404, {}, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
        media = version.manifest.get("mediaType", MANIFEST)
        return 200, {"Content-Type": media, "Docker-Content-Digest": version.digest}, json.dumps(version.manifest).encode()


@dataclass
class HubTag:
    name: str
    digest: str
    pushed: str
    images: list[str] = field(default_factory=list)


@dataclass
class FakeDockerHub(_Server):
    """Docker Hub's API for one repository: login, paged tags, tag delete, description update."""

    namespace: str = "acme"
    repository: str = "app"
    username: str = "acme-bot"
    secret: str = "dckr_pat_good"
    page_cap: int = 100
    tags: list[HubTag] = field(default_factory=list)
    description: str = ""
    full_description: str = ""
    throttle: int = 0  # answer this many tag listings with 429 Too Many Requests first

    def __post_init__(self) -> None:
        _Server.__init__(self)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(path)
        if method == "POST" and parts.path == "/v2/auth/token":
            data = json.loads(body or b"{}")
            if data.get("identifier") == self.username and data.get("secret") == self.secret:
                return 200, {}, {"access_token": "hub-jwt"}
            return 401, {}, {"detail": "Incorrect authentication credentials", "errinfo": {}}
        if headers.get("Authorization") != "Bearer hub-jwt":
            return 401, {}, {"detail": "authentication credentials were not provided", "errinfo": {}}
        tags_path = f"/v2/namespaces/{self.namespace}/repositories/{self.repository}/tags"
        if method == "GET" and parts.path == tags_path and self.throttle > 0:
            self.throttle -= 1
            return 429, {"Retry-After": "0", "X-RateLimit-Remaining": "0"}, {"message": "Too Many Requests", "errinfo": {}}
        if method == "GET" and parts.path == tags_path:
            query = parse_qs(parts.query)
            size = min(int(query.get("page_size", ["10"])[0]), self.page_cap)
            page = int(query.get("page", ["1"])[0])
            rows = self.tags[(page - 1) * size : page * size]
            more = page * size < len(self.tags)
            return (
                200,
                {},
                {
                    "count": len(self.tags),
                    "next": f"{self.url}{tags_path}?page_size={size}&page={page + 1}" if more else None,
                    "previous": f"{self.url}{tags_path}?page_size={size}&page={page - 1}" if page > 1 else None,
                    "results": [self._tag_json(t) for t in rows],
                },
            )
        if method == "DELETE" and parts.path.startswith(tags_path + "/"):
            name = parts.path[len(tags_path) + 1 :]
            tag = next((t for t in self.tags if t.name == name), None)
            if tag is None:
                return 404, {}, {"message": "tag not found", "errinfo": {}}
            self.tags.remove(tag)
            return 204, {}, None
        if method == "PATCH" and parts.path == f"/v2/repositories/{self.namespace}/{self.repository}/":
            data = json.loads(body)
            if len(data.get("full_description", "").encode()) > 25_000:
                return 400, {}, {"message": "full_description: ensure this field has no more than 25000 characters"}
            self.full_description = data.get("full_description", self.full_description)
            self.description = data.get("description", self.description)
            return (
                200,
                {},
                {
                    "user": self.namespace,
                    "name": self.repository,
                    "namespace": self.namespace,
                    "description": self.description,
                    "full_description": self.full_description,
                },
            )
        return 404, {}, {"message": "object not found", "errinfo": {}}

    def _tag_json(self, t: HubTag) -> dict[str, Any]:
        images = [{"architecture": "amd64", "os": "linux", "digest": d, "size": 1000, "status": "active"} for d in t.images] or [
            {"architecture": "amd64", "os": "linux", "digest": t.digest, "size": 1000, "status": "active"}
        ]
        return {
            "creator": 1,
            "id": abs(hash(t.name)) % 10_000_000,
            "images": images,
            "last_updated": t.pushed,
            "last_updater": 1,
            "last_updater_username": self.username,
            "name": t.name,
            "repository": 1,
            "full_size": 1000,
            "v2": True,
            "tag_status": "active",
            "tag_last_pulled": None,
            "tag_last_pushed": t.pushed,
            "media_type": INDEX if t.images else MANIFEST,
            "content_type": "image",
            "digest": t.digest,
        }


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
