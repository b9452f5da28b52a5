"""Thin wrappers over the independent tools the integration tests read results back with."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COSIGN_PASSWORD = "integration-test-key-password"


@dataclass
class Tools:
    bin: Path
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_CONFIG": str(self.home / "docker"), "COSIGN_PASSWORD": COSIGN_PASSWORD, "HOME": str(self.home)}

    def run(
        self, tool: str, *args: str, check: bool = True, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**self.env, **(env or {})}
        proc = subprocess.run(
            [str(self.bin / tool), *args], capture_output=True, text=True, env=full_env, cwd=self.home, input=stdin, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        return proc

    def run_bytes(self, tool: str, *args: str) -> bytes:
        """Run a tool whose standard output is binary (e.g. ``crane export``)."""
        proc = subprocess.run([str(self.bin / tool), *args], capture_output=True, env=self.env, cwd=self.home, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
        return proc.stdout

    def login(self, registry: str, username: str, password: str) -> None:
        self.run("crane", "auth", "login", registry, "-u", username, "--password-stdin", stdin=password)

    # crane -----------------------------------------------------------------------------
    def tags(self, repo: str) -> set[str]:
        proc = self.run("crane", "ls", repo, check=False)
        return set(proc.stdout.split()) if proc.returncode == 0 else set()

    def exists(self, ref: str) -> bool:
        return self.run("crane", "manifest", ref, check=False).returncode == 0

    def manifest(self, ref: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run("crane", "manifest", ref).stdout)
        return data

    def digest(self, ref: str) -> str:
        return self.run("crane", "digest", ref).stdout.strip()

    # cosign ----------------------------------------------------------------------------
    def keypair(self, name: str) -> tuple[Path, Path]:
        folder = self.home / f"keys-{name}"
        if not (folder / "cosign.key").exists():
            folder.mkdir(exist_ok=True)
            subprocess.run([str(self.bin / "cosign"), "generate-key-pair"], cwd=folder, env=self.env, capture_output=True, check=True)
        return folder / "cosign.key", folder / "cosign.pub"

    def sign(self, ref: str, key: Path) -> None:
        self.run("cosign", "sign", "--key", str(key), "--tlog-upload=false", "--allow-insecure-registry", "--yes", ref)

    def sign_referrers(self, ref: str, key: Path) -> None:
        """Sign the OCI 1.1 way: a manifest with a subject, found through the referrers fallback tag."""
        args = (
            "sign",
            "--key",
            str(key),
            "--tlog-upload=false",
            "--allow-insecure-registry",
            "--yes",
            "--registry-referrers-mode=oci-1-1",
            ref,
        )
        self.run("cosign", *args, env={"COSIGN_EXPERIMENTAL": "1"})

    def verify_referrers(self, ref: str, pub: Path) -> bool:
        args = ("verify", "--key", str(pub), "--insecure-ignore-tlog", "--allow-insecure-registry", "--experimental-oci11", ref)
        return self.run("cosign", *args, check=False, env={"COSIGN_EXPERIMENTAL": "1"}).returncode == 0

    def attest(self, ref: str, key: Path, predicate: dict[str, Any], kind: str = "spdxjson") -> None:
        path = self.home / "predicate.json"
        path.write_text(json.dumps(predicate))
        self.run(
            "cosign",
            "attest",
            "--key",
            str(key),
            "--type",
            kind,
            "--predicate",
            str(path),
            "--tlog-upload=false",
            "--allow-insecure-registry",
            "--yes",
            ref,
        )

    def verify(self, ref: str, pub: Path) -> bool:
        return (
            self.run(
                "cosign", "verify", "--key", str(pub), "--insecure-ignore-tlog", "--allow-insecure-registry", ref, check=False
            ).returncode
            == 0
        )

    def verify_attestation(self, ref: str, pub: Path, kind: str = "spdxjson") -> bool:
        args = ("verify-attestation", "--key", str(pub), "--type", kind, "--insecure-ignore-tlog", "--allow-insecure-registry", ref)
        return self.run("cosign", *args, check=False).returncode == 0
