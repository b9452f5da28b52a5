"""TEST INFRASTRUCTURE: a front for a stack registry, to make it production-shaped.

Shipyard is what is under test; this process only gives the stack what GHCR and Docker Hub have
and the `distribution` builds here lack. It proxies every request to an upstream registry and:
  * logs each request to REQUEST_LOG (one JSON line: method, path, status, request bytes), so
    tests can count blob upload bytes (a cross-repository mount uploads none);
  * --token: is the registry's token server (Docker token spec): ``GET /token?service=&scope=``
    with Basic credentials, and the OAuth2 ``POST /token`` (grant_type=password) containerd uses.
    JWTs are RS256 with the x5c chain of a self-made certificate, the one the upstream
    `distribution` (``auth: token``) trusts. Users come from a JSON file {user: {password,
    pull|push|delete: [repository patterns]}}; anonymous gets a token with no access; a token grants
    the requested actions the user has (the rest are dropped, as the spec says). Every token
    issued is logged to TOKEN_LOG (user, scopes asked, access granted, expiry). Expiry is strict:
    a request with an expired token is passed on without it, so the registry answers 401 with
    its challenge (distribution alone would accept it for its 60 s leeway). The realm in
    challenges is rewritten to the Host the client used: like ghcr.io/token, the token server
    lives on the registry's own host, which a host process reaches as 127.0.0.1:P and an engine
    container as its service alias.
  * --referrers STATE: the OCI distribution 1.1 referrers API over an upstream without one:
    a manifest with a ``subject`` pushed through here is recorded (answered with
    ``OCI-Subject``), ``GET /v2/<name>/referrers/<digest>`` lists those still in the upstream
    (``?artifactType=`` filters, with ``OCI-Filters-Applied``), a manifest deleted here leaves it.
Usage: front.py PORT UPSTREAM_PORT REQUEST_LOG [--token USERS_JSON KEY_PEM CERT_PEM SERVICE ISSUER TTL TOKEN_LOG]
                                               [--referrers STATE_JSON]
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import http.client
import json
import re
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
REFERRERS_PATH = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}

args = sys.argv[1:]
port, upstream_port, request_log = int(args[0]), int(args[1]), Path(args[2])
token_options: list[str] | None = None
referrers_state: Path | None = None
rest = args[3:]
while rest:
    if rest[0] == "--token":
        token_options, rest = rest[1:8], rest[8:]
    elif rest[0] == "--referrers":
        referrers_state, rest = Path(rest[1]), rest[2:]
    else:
        sys.exit(f"front.py: unknown option {rest[0]}")
log_lock = threading.Lock()


def append(path: Path, entry: dict[str, Any]) -> None:
    with log_lock, path.open("a") as f:
        f.write(json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}) + "\n")


class Tokens:
    """The token server: who may do what, and the signing key."""

    def __init__(self, options: list[str]) -> None:
        import jwt  # Debian's python3-jwt, as the stack's OIDC issuer
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        self.jwt = jwt
        users_file, key_file, cert_file, self.service, self.issuer, ttl, token_log = options
        self.users: dict[str, dict[str, Any]] = json.loads(Path(users_file).read_text())
        self.key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.ttl = int(ttl)
        self.log = Path(token_log)

    def user(self, authorization: str) -> tuple[str | None, bool]:
        """(user, ok): (None, True) for anonymous; (name, False) for a wrong password."""
        if not authorization.lower().startswith("basic "):
            return None, True
        name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return self.password_ok(name, password)

    def password_ok(self, name: str, password: str) -> tuple[str | None, bool]:
        known = self.users.get(name)
        return name, bool(known and known["password"] == password)

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        rights = self.users.get(user or "", {})
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            allowed = [
                a for a in actions.split(",") if a in ("pull", "push", "delete") and any(fnmatch.fnmatch(name, p) for p in rights.get(a, []))
            ]
            if allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def issue(self, user: str | None, scopes: list[str], client: str) -> dict[str, Any]:
        now = int(time.time())
        access = self.grant(user, scopes)
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        kid = hashlib.sha256(base64.b64decode(self.x5c[0])).hexdigest()[:32]
        token = self.jwt.encode(claims, self.key, algorithm="RS256", headers={"x5c": self.x5c, "kid": kid})
        append(self.log, {"user": user or "anonymous", "scopes": scopes, "access": access, "expires_in": self.ttl, "client": client})
        issued = datetime.fromtimestamp(now, UTC).isoformat()
        return {"token": token, "access_token": token, "expires_in": self.ttl, "issued_at": issued}

    def expired(self, authorization: str) -> bool:
        if not authorization.lower().startswith("bearer "):
            return False
        try:
            claims = self.jwt.decode(authorization[7:], options={"verify_signature": False})
        except self.jwt.PyJWTError:
            return False
        return int(claims.get("exp", 0)) <= time.time()


class Referrers:
    """The referrers API's records: repository -> subject -> [descriptor]."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.lock = threading.Lock()
        self.records: dict[str, dict[str, list[dict[str, Any]]]] = json.loads(state.read_text()) if state.exists() else {}

    def add(self, name: str, subject: str, descriptor: dict[str, Any]) -> None:
        with self.lock:
            listed = self.records.setdefault(name, {}).setdefault(subject, [])
            if all(d["digest"] != descriptor["digest"] for d in listed):
                listed.append(descriptor)
            self._save()

    def remove(self, name: str, digest: str) -> None:
        with self.lock:
            for listed in self.records.get(name, {}).values():
                listed[:] = [d for d in listed if d["digest"] != digest]
            self._save()

    def listed(self, name: str, subject: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.records.get(name, {}).get(subject, []))

    def _save(self) -> None:
        self.state.write_text(json.dumps(self.records))


tokens = Tokens(token_options) if token_options else None
referrers = Referrers(referrers_state) if referrers_state else None


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the request log says it all)
        return

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | list[tuple[str, str]]) -> None:
        self.send_response(status)
        items_list = list(headers.items() if isinstance(headers, dict) else headers)
        for key, value in items_list:
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        length = str(len(body))
        if self.command == "HEAD":  # the length of what a GET would answer (containerd checks it)
            length = next((v for k, v in items_list if k.lower() == "content-length"), "0")
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _upstream(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=300)
        connection.request(method, path, body=body or None, headers=headers)
        return connection.getresponse()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self._body() if self.command in ("POST", "PUT", "PATCH") else b""
        if tokens is not None and url.path == "/token":
            return self._token(url.query, body)
        if referrers is not None and self.command == "GET" and (match := REFERRERS_PATH.match(url.path)):
            # unquote, not form decoding: a client that leaves the "+" of "…+json" unescaped means a "+"
            wanted = [unquote(v) for k, _, v in (p.partition("=") for p in url.query.split("&")) if k == "artifactType"]
            return self._referrers(match["name"], match["digest"], wanted)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if tokens is not None and tokens.expired(headers.get("Authorization", "")):
            headers.pop("Authorization")
            append(request_log, {"method": self.command, "path": url.path, "note": "expired token refused"})
        response = self._upstream(self.command, self.path, body, headers)
        data = response.read() if self.command != "HEAD" else b""
        out = response.getheaders()
        host = self.headers.get("host", f"127.0.0.1:{port}")
        if tokens is not None and response.status == 401:
            out = [(k, re.sub(r'realm="[^"]*"', f'realm="http://{host}/token"', v) if k.lower() == "www-authenticate" else v) for k, v in out]
        if referrers is not None:
            out += self._record(url.path, body, response)
        append(
            request_log,
            {"method": self.command, "path": url.path, "query": url.query, "status": response.status, "bytes": len(body)},
        )
        self._send(response.status, data, out)

    def _record(self, path: str, body: bytes, response: http.client.HTTPResponse) -> list[tuple[str, str]]:
        assert referrers is not None
        match = MANIFEST_PATH.match(path)
        if not match or response.status not in (200, 201, 202):
            return []
        if self.command == "DELETE" and match["ref"].startswith("sha256:"):
            referrers.remove(match["name"], match["ref"])
            return []
        if self.command != "PUT":
            return []
        try:
            manifest = json.loads(body)
        except ValueError:
            return []
        subject = (manifest.get("subject") or {}).get("digest") if isinstance(manifest, dict) else None
        if not subject:
            return []
        digest = response.getheader("docker-content-digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        descriptor = {
            "mediaType": manifest.get("mediaType") or self.headers.get("content-type", ""),
            "digest": digest,
            "size": len(body),
            "artifactType": manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType", ""),
        }
        if manifest.get("annotations"):
            descriptor["annotations"] = manifest["annotations"]
        referrers.add(match["name"], subject, descriptor)
        return [("OCI-Subject", subject)]

    def _referrers(self, name: str, subject: str, wanted: list[str]) -> None:
        assert referrers is not None
        listed = []
        for descriptor in referrers.listed(name, subject):
            head = self._upstream("HEAD", f"/v2/{name}/manifests/{descriptor['digest']}", b"", {"Accept": descriptor["mediaType"]})
            head.read()
            if head.status == 200:
                listed.append(descriptor)
        headers = {"Content-Type": INDEX}
        if wanted:
            listed = [d for d in listed if d["artifactType"] in wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": listed}).encode()
        append(request_log, {"method": "GET", "path": self.path, "status": 200, "bytes": 0, "referrers": len(listed)})
        self._send(200, body, headers)

    def _token(self, query: str, body: bytes) -> None:
        assert tokens is not None
        client = self.client_address[0]
        if self.command == "POST":  # OAuth2 password grant (containerd tries it first)
            form = parse_qs(body.decode())
            if form.get("grant_type", [""])[0] != "password":
                return self._send(400, b'{"error":"unsupported_grant_type"}', {"Content-Type": "application/json"})
            user, ok = tokens.password_ok(form.get("username", [""])[0], form.get("password", [""])[0])
            scopes = [s for value in form.get("scope", []) for s in value.split()]
        else:
            user, ok = tokens.user(self.headers.get("authorization", ""))
            scopes = [s for value in parse_qs(query).get("scope", []) for s in value.split()]
        if not ok:
            append(tokens.log, {"user": user, "refused": "wrong password", "client": client})
            return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"wrong username or password"}]}', {"Content-Type": "application/json"})
        self._send(200, json.dumps(tokens.issue(user, scopes, client)).encode(), {"Content-Type": "application/json"})

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", port), Front)
    server.daemon_threads = True
    print(f"front on 127.0.0.1:{port} -> 127.0.0.1:{upstream_port}", flush=True)
    server.serve_forever()
