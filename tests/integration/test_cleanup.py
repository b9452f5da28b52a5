"""Cleanup against the real local registry, read back with crane and cosign (issue 6 acceptance)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from shipyard.errors import RegistryError
from shipyard.registries.backends.apply import run_cleanup
from shipyard.registries.backends.oci import OciCleanupBackend
from shipyard.registries.oci import OciRegistry
from shipyard.reports.report import CleanupReport
from shipyard.retention.policy import RetentionPolicy, policy_from_args
from shipyard.secrets import Credentials, SecretValue
from tests.integration.conftest import Stack
from tests.integration.seed import Seed, seed_repository
from tests.integration.tools import Tools

pytestmark = pytest.mark.integration


def cleanup(seed: Seed, policy: RetentionPolicy, *, apply: bool, credentials: Credentials | None = None) -> CleanupReport:
    registry, _, path = seed.repo.partition("/")

    async def go() -> CleanupReport:
        async with OciRegistry(registry, credentials) as reg:
            return await run_cleanup(OciCleanupBackend(reg), path, policy, now=datetime.now(UTC), apply=apply)

    return anyio.run(go)


def sig(tools: Tools, seed: Seed, digest: str, suffix: str = "sig") -> str:
    return tools.digest(f"{seed.repo}:{seed.sig_tag(digest, suffix)}")


def referrers(tools: Tools, seed: Seed, digest: str) -> set[str]:
    """The OCI 1.1 fallback index of ``digest`` and the manifests it lists."""
    tag = f"{seed.repo}:{digest.replace(':', '-')}"
    return {tools.digest(tag), *(m["digest"] for m in tools.manifest(tag)["manifests"])}


def orphan_sig(tools: Tools, seed: Seed) -> str:
    return sig(tools, seed, seed.digests["gone"])


def expected(tools: Tools, seed: Seed, policy: str) -> set[str]:
    d, c = seed.digests, seed.children
    orphan = orphan_sig(tools, seed)
    return {
        "prereleases": {
            d["2.0.0-rc.1"],
            sig(tools, seed, d["2.0.0-rc.1"]),
            d["2.0.0-rc.2"],
            *referrers(tools, seed, d["2.0.0-rc.2"]),
            orphan,
        },
        "untagged": {d["U2"], *c["U2"], sig(tools, seed, d["U2"]), orphan},
        "age": {d["feature-x"], orphan},
        "only-untagged": {d["U1"], sig(tools, seed, d["U1"]), d["U2"], *c["U2"], sig(tools, seed, d["U2"]), orphan},
    }[policy]


POLICIES = {
    "prereleases": RetentionPolicy(keep_prereleases=1),
    "untagged": RetentionPolicy(keep_untagged=1),
    "age": RetentionPolicy(older_than=timedelta(days=90)),
    "only-untagged": RetentionPolicy(keep_untagged=0, older_than=timedelta(days=1), only_untagged=True),
}


@pytest.fixture
def seed(stack: Stack, tools: Tools, repo_name: str) -> Seed:
    return seed_repository(tools, f"{stack.registry_a}/{repo_name}")


def assert_no_orphans(tools: Tools, seed: Seed) -> None:
    for tag in tools.tags(seed.repo):
        if tag.startswith("sha256-"):  # .sig/.att tags and OCI 1.1 referrers fallback tags
            subject = tag.split(".")[0].replace("sha256-", "sha256:")
            assert tools.exists(f"{seed.repo}@{subject}"), f"orphaned {tag}"


def assert_kept_release_still_verifies(tools: Tools, seed: Seed) -> None:
    assert tools.verify(f"{seed.repo}:1.1.0", seed.pub)
    assert tools.verify(f"{seed.repo}@{seed.children['1.1.0'][1]}", seed.pub)
    assert tools.verify(f"{seed.repo}:1.0.0", seed.pub)
    assert tools.verify_referrers(f"{seed.repo}:1.0.0", seed.pub)
    assert tools.verify_attestation(f"{seed.repo}:latest", seed.pub, "spdxjson")
    for child in seed.children["1.1.0"]:
        assert tools.exists(f"{seed.repo}@{child}")


def test_dry_run_plans_exactly_the_expected_set_for_each_policy_and_touches_nothing(tools: Tools, seed: Seed) -> None:
    before = tools.tags(seed.repo)
    for name, policy in POLICIES.items():
        report = cleanup(seed, policy, apply=False)
        assert set(report.plan.delete_order) == expected(tools, seed, name), name
        assert report.deleted == []
    assert tools.tags(seed.repo) == before


@pytest.mark.parametrize("policy", list(POLICIES))
def test_apply_deletes_exactly_the_plan_keeps_releases_verifiable_and_is_idempotent(tools: Tools, seed: Seed, policy: str) -> None:
    want = expected(tools, seed, policy)
    everything = {*seed.digests.values(), *(c for cs in seed.children.values() for c in cs)} - {seed.digests["gone"]}
    everything |= referrers(tools, seed, seed.digests["1.0.0"]) | referrers(tools, seed, seed.digests["2.0.0-rc.2"])
    report = cleanup(seed, POLICIES[policy], apply=True)
    assert report.ok, report.failed
    assert set(report.deleted) == want
    for digest in want:
        assert not tools.exists(f"{seed.repo}@{digest}"), f"{digest} should be gone"
    for digest in everything - want:
        assert tools.exists(f"{seed.repo}@{digest}"), f"{digest} should have been kept"
    assert_no_orphans(tools, seed)
    assert_kept_release_still_verifies(tools, seed)
    again = cleanup(seed, POLICIES[policy], apply=True)
    assert again.plan.delete_order == () and again.deleted == []


def test_prerelease_policy_leaves_the_expected_tags(tools: Tools, seed: Seed) -> None:
    cleanup(seed, POLICIES["prereleases"], apply=True)
    image_tags = {t for t in tools.tags(seed.repo) if not t.startswith("sha256-")}
    assert image_tags == {"1.0.0", "1.1.0", "1.1", "1", "latest", "2.0.0-rc.3", "feature-x", "edge"}


def test_registry_with_credentials(stack: Stack, tools: Tools, repo_name: str) -> None:
    seed = seed_repository(tools, f"{stack.registry_b}/{repo_name}")
    good = Credentials(stack.username_b, SecretValue(stack.password_b))
    report = cleanup(seed, POLICIES["prereleases"], apply=True, credentials=good)
    assert set(report.deleted) == {seed.digests["2.0.0-rc.1"], seed.digests["2.0.0-rc.2"], *report.deleted} and report.ok
    assert not tools.exists(f"{seed.repo}:2.0.0-rc.1")

    bad = Credentials(stack.username_b, SecretValue("wrong-password"))
    with pytest.raises(RegistryError) as err:
        cleanup(seed, POLICIES["prereleases"], apply=False, credentials=bad)
    assert err.value.registry == stack.registry_b and err.value.status == 401
    assert "check the username and token" in str(err.value)
    assert "wrong-password" not in str(err.value)


def test_cli_dry_run_json_then_apply(tools: Tools, seed: Seed) -> None:
    base = [sys.executable, "-m", "shipyard", "cleanup", "--image", seed.repo, "--keep-untagged", "1", "--keep-prereleases", "1"]
    dry = subprocess.run([*base, "--json"], capture_output=True, text=True, check=False)
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["applied"] is False and planned["deleted"] == []
    want = expected(tools, seed, "untagged") | expected(tools, seed, "prereleases")
    assert set(planned["plan"]["delete_order"]) == want
    reasons = {row["name"]: row["reason"] for row in planned["plan"]["delete"]}
    assert reasons["2.0.0-rc.1"] == "pre-release beyond the newest 1"
    applied = subprocess.run([*base, "--apply"], capture_output=True, text=True, check=False)
    assert applied.returncode == 0, applied.stderr
    assert f"Deleted {len(want)} item(s):" in applied.stdout
    assert not tools.exists(f"{seed.repo}:2.0.0-rc.1")
    assert_kept_release_still_verifies(tools, seed)


def test_cli_reads_the_password_from_env_and_never_prints_it(stack: Stack, tools: Tools, repo_name: str) -> None:
    seed = seed_repository(tools, f"{stack.registry_b}/{repo_name}")
    env = {**os.environ, "REG_B_TOKEN": stack.password_b}
    args = [
        sys.executable,
        "-m",
        "shipyard",
        "cleanup",
        "--image",
        seed.repo,
        "--keep-prereleases",
        "0",
        "--json",
        "--username",
        stack.username_b,
        "--password",
        "env:REG_B_TOKEN",
    ]
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert stack.password_b not in out.stdout + out.stderr
    env["REG_B_TOKEN"] = "nope"
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 3  # the registry refused: exit 3 (README, Errors and exit codes)
    assert f"registry {stack.registry_b} (HTTP 401)" in out.stderr


def test_the_dagger_function_runs_the_same_cleanup(tools: Tools, seed: Seed) -> None:
    from shipyard.main import Shipyard

    text: str = anyio.run(lambda: Shipyard().cleanup(repository=seed.repo, keep_prereleases=1, apply=True))
    assert "Deleted 6 item(s)" in text
    assert not tools.exists(f"{seed.repo}:2.0.0-rc.2")


def test_policy_from_args_defaults_protect_releases() -> None:
    policy = policy_from_args(keep_prereleases=5, older_than="90d", protect=["stable-2"])
    assert policy.protection("v1.2.3") and policy.protection("latest") and policy.protection("stable-2")
    assert policy.protection("2.0.0-rc.1") is None
