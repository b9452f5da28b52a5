"""A tiny OIDC issuer for the test stack's Sigstore: Fulcio trusts it as a ``github-workflow`` issuer.

It exists for tests only and serves, on loopback:
  /.well-known/openid-configuration, /jwks   what Fulcio reads to check a token
  /token?ref=refs/tags/v1&expires_in=600      a token (JSON {"value": ...}) for --oidc-token
  /actions/token?ref=...&audience=sigstore    the GitHub Actions runner's endpoint
                                              (ACTIONS_ID_TOKEN_REQUEST_URL): needs the bearer
                                              request token (ACTIONS_ID_TOKEN_REQUEST_TOKEN)
Tokens carry GitHub's claims for repository acme/app and the workflow
.github/workflows/release.yml at the given ref. The signing key lives only in this process.
Usage: oidc_issuer.py PORT REQUEST_TOKEN_FILE
"""

from __future__ import annotations

import hmac
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

REPOSITORY = "acme/app"
WORKFLOW = ".github/workflows/release.yml"

port = int(sys.argv[1])
request_token = Path(sys.argv[2]).read_text().strip()
issuer = f"http://127.0.0.1:{port}"
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
kid = uuid.uuid4().hex
jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
jwk.update(kid=kid, use="sig", alg="RS256")


def mint(query: dict[str, list[str]]) -> str:
    ref = query.get("ref", ["refs/tags/v1.0.0"])[0]
    now = int(time.time())
    expires_in = int(query.get("expires_in", ["600"])[0])
    workflow_ref = f"{REPOSITORY}/{WORKFLOW}@{ref}"
    sha = query.get("sha", ["0123456789abcdef0123456789abcdef01234567"])[0]
    claims = {
        "iss": issuer,
        "aud": query.get("audience", ["sigstore"])[0],
        "sub": f"repo:{REPOSITORY}:ref:{ref}",
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
        "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "sha": sha,
        "repository": REPOSITORY,
        "repository_id": "123456789",
        "repository_owner": REPOSITORY.split("/")[0],
        "repository_owner_id": "987654321",
        "repository_visibility": "public",
        "run_id": "4242",
        "run_number": "7",
        "run_attempt": "1",
        "actor": "octocat",
        "actor_id": "583231",
        "event_name": "push",
        "workflow": "release",
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "runner_environment": "github-hosted",
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class Handler(BaseHTTPRequestHandler):
    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/.well-known/openid-configuration":
            self._json(200, {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/jwks",
                "token_endpoint": f"{issuer}/token",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "repository", "job_workflow_ref", "sha"],
            })
        elif url.path == "/jwks":
            self._json(200, {"keys": [jwk]})
        elif url.path == "/token":
            self._json(200, {"value": mint(query)})
        elif url.path == "/actions/token":
            scheme, _, given = self.headers.get("Authorization", "").partition(" ")  # cosign writes "bearer"
            if scheme.lower() != "bearer":
                given = ""
            if not hmac.compare_digest(given.strip().encode(), request_token.encode()):
                self._json(401, {"message": "bad request token"})
                return
            self._json(200, {"value": mint(query)})
        else:
            self._json(404, {"message": "not found"})

    do_POST = do_GET  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # The path, never a token (tokens travel in headers and bodies only).
        sys.stderr.write(f"{self.log_date_time_string()} {self.command} {urlsplit(self.path).path}\n")


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
