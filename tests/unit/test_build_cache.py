"""The build cache options: build-push-action's syntax read, the engine's variables written,
the session's Docker config, and the export check's verdicts."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.build_cache import docker_config_with, process_environment, session_environment
from shipyard.errors import InvalidInput
from shipyard.release.cache import (
    BOTH_ENV,
    EXPORT_ENV,
    IMPORT_ENV,
    CacheConfig,
    CacheDoor,
    CacheEntry,
    ExportOutcome,
    cache_config,
    cache_summary,
    config_from_environment,
    export_outcomes,
    parse_cache_entry,
)
from shipyard.secrets import Credentials, SecretValue

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "what", "engine"),
    [
        ("type=registry,ref=ghcr.io/acme/app:buildcache", "--cache-from", "type=registry,ref=ghcr.io/acme/app:buildcache"),
        ("ghcr.io/acme/app:buildcache", "--cache-from", "type=registry,ref=ghcr.io/acme/app:buildcache"),  # a bare reference
        ("type=registry,ref=ghcr.io/acme/app:buildcache,mode=max", "--cache-to", "type=registry,mode=max,ref=ghcr.io/acme/app:buildcache"),
        ("type=registry,ref=ghcr.io/acme/app", "--cache-to", "type=registry,ref=ghcr.io/acme/app:buildcache"),  # default tag
        (
            "type=registry,ref=localhost:5000/app:c,image-manifest=true",
            "--cache-to",
            "type=registry,image-manifest=true,ref=localhost:5000/app:c",
        ),
        (
            "type=s3,region=eu-west-1,bucket=cache,endpoint_url=http://minio:9000",
            "--cache-to",
            "type=s3,bucket=cache,endpoint_url=http://minio:9000,region=eu-west-1",
        ),
        ("type=local,src=/var/cache/bk", "--cache-from", "type=local,src=/var/cache/bk"),
        ("docker.io/acme/app:cache", "--cache-from", "type=registry,ref=docker.io/acme/app:cache"),
        ("acme/app:cache", "--cache-from", "type=registry,ref=docker.io/acme/app:cache"),
    ],
)
def test_build_push_action_syntax_becomes_the_engine_entry(text: str, what: str, engine: str) -> None:
    assert parse_cache_entry(text, what=what).engine_value() == engine


@pytest.mark.parametrize(
    ("text", "what", "says"),
    [
        ("type=gha", "--cache-from", "GitHub's cache service v1"),
        ("type=gha,mode=max", "--cache-to", "shut down in April 2025"),
        ("type=inline", "--cache-to", "no cache is inlined"),
        ("type=registry", "--cache-to", "has no ref="),
        ("type=registry,ref=ghcr.io/acme/app:c,mode=all", "--cache-to", "mode=all"),
        ("type=registry,ref=ghcr.io/acme/app:c,mode=max", "--cache-from", "only an export takes"),
        ("type=registry,ref=UPPER/Case:x", "--cache-to", "--cache-to ref"),
        ("type=registry,ref", "--cache-to", "not KEY=VALUE"),
        ("type=registry,ref=a/b:c,ref=a/b:d", "--cache-to", "twice"),
        ("type=azblob,name=x", "--cache-to", "type=azblob"),
        ("type=local", "--cache-to", "has no dest="),
        ("  ", "--cache-from", "is empty"),
    ],
)
def test_bad_cache_values_name_the_option_and_the_fix(text: str, what: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cache_entry(text, what=what)
    assert str(caught.value).startswith(what) and says in str(caught.value)


def test_the_engine_variables_separate_entries_with_semicolons_and_escape_them() -> None:
    config = cache_config(["a.io/x/y:c1", "type=local,src=/a;b"], ["a.io/x/y:c2"])
    env = config.environment()
    assert env == {IMPORT_ENV: r"type=registry,ref=a.io/x/y:c1;type=local,src=/a\;b", EXPORT_ENV: "type=registry,ref=a.io/x/y:c2"}
    assert BOTH_ENV not in env and config.door is CacheDoor.CLI


def test_no_options_is_no_cache_and_no_variables() -> None:
    config = cache_config([], [])
    assert not config.configured and config.environment() == {} and config.door is CacheDoor.NONE
    assert config.describe().startswith("none")


def test_an_export_reference_given_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="given twice"):
        cache_config([], ["a.io/x:c", "type=registry,ref=a.io/x:c,mode=max"])


def test_each_builder_group_gets_its_own_cache_tag() -> None:
    config = cache_config(["type=registry,ref=a.io/x:cache"], ["type=registry,ref=a.io/x:cache,mode=max"])
    group = config.for_group("linux-arm64")
    assert [str(r) for r in group.export_refs()] == ["a.io/x:cache-linux-arm64"]
    assert group.environment()[IMPORT_ENV] == "type=registry,ref=a.io/x:cache-linux-arm64"
    assert group.environment()[EXPORT_ENV] == "type=registry,mode=max,ref=a.io/x:cache-linux-arm64"
    s3 = CacheEntry("s3", (("bucket", "b"),))
    assert s3.with_tag_suffix("linux-arm64") == s3  # only registry tags are per group


def test_variables_already_in_the_environment_are_read_as_the_engine_reads_them() -> None:
    config = config_from_environment({BOTH_ENV: "type=registry,ref=a.io/x:c", IMPORT_ENV: "type=gha,scope=x"})
    assert config.door is CacheDoor.ENVIRONMENT
    assert [e.type for e in config.imports] == ["gha", "registry"] and [str(r) for r in config.export_refs()] == ["a.io/x:c"]
    assert "environment" in config.describe()
    assert not config_from_environment({}).configured


@pytest.mark.parametrize(
    ("before", "after", "status", "ok"),
    [
        (None, "sha256:1", "exported", True),
        ("sha256:0", "sha256:1", "exported", True),
        ("sha256:1", "sha256:1", "unchanged", False),
        (None, None, "missing", False),
        ("sha256:0", None, "missing", False),
    ],
)
def test_the_export_check_needs_a_new_manifest(before: str | None, after: str | None, status: str, ok: bool) -> None:
    (outcome,) = export_outcomes({"a.io/x:c": before}, {"a.io/x:c": after})
    assert (outcome.status, outcome.ok) == (status, ok)
    assert outcome.message().startswith("exported to a.io/x:c" if ok else "WARNING")


def test_an_unreadable_registry_after_the_session_is_a_warning_naming_it() -> None:
    (outcome,) = export_outcomes({}, {"a.io/x:c": RuntimeError("registry a.io (HTTP 401): denied")})
    assert outcome.status == "unknown" and "HTTP 401" in outcome.message()


def test_the_summary_says_who_configured_the_cache_and_lists_warnings() -> None:
    config = cache_config(["a.io/x:c"], ["a.io/x:c"])
    summary = cache_summary(config, (ExportOutcome("a.io/x:c", None, None),), 1.25)
    assert summary["door"] == "cli" and summary["configured"] is True and summary["export_seconds"] == 1.25
    warnings = summary["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 1 and "not exported" in warnings[0]
    assert cache_summary(CacheConfig(door=CacheDoor.CALLER))["configured"] is True


def test_the_session_docker_config_adds_the_cache_registrys_credentials_and_keeps_the_rest() -> None:
    base = {"auths": {"other.io": {"auth": "eA=="}}, "credHelpers": {"a.io": "gcloud", "b.io": "ecr"}, "proxies": {"x": 1}}
    config = docker_config_with(base, {"a.io": Credentials("bot", SecretValue("s3cret")), "docker.io": Credentials("u", SecretValue("p"))})
    auths = config["auths"]
    assert isinstance(auths, dict)
    assert base64.b64decode(auths["a.io"]["auth"]) == b"bot:s3cret"
    assert base64.b64decode(auths["https://index.docker.io/v1/"]["auth"]) == b"u:p"
    assert auths["other.io"] == {"auth": "eA=="} and config["credHelpers"] == {"b.io": "ecr"} and config["proxies"] == {"x": 1}


def test_the_session_docker_config_is_private_and_removed_afterwards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "desktop"}))
    config = cache_config([], ["a.io/x:c"])
    with session_environment(config, {"a.io": Credentials("bot", SecretValue("tok"))}) as env:
        directory = Path(env["DOCKER_CONFIG"])
        written = json.loads((directory / "config.json").read_text())
        assert written["credsStore"] == "desktop" and "a.io" in written["auths"]
        assert oct(directory.stat().st_mode & 0o777) == "0o700" and oct((directory / "config.json").stat().st_mode & 0o777) == "0o600"
        assert env[EXPORT_ENV] == "type=registry,ref=a.io/x:c"
    assert not directory.exists()
    with session_environment(config, {}) as env:  # no credentials for it: the host's config as it is
        assert "DOCKER_CONFIG" not in env


def test_the_process_environment_is_restored_after_the_session_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BOTH_ENV, "type=registry,ref=old.io/x:c")
    monkeypatch.delenv(EXPORT_ENV, raising=False)
    with process_environment({EXPORT_ENV: "type=registry,ref=a.io/x:c"}, replace_cache=True):
        assert os.environ[EXPORT_ENV] == "type=registry,ref=a.io/x:c" and BOTH_ENV not in os.environ
    assert os.environ[BOTH_ENV] == "type=registry,ref=old.io/x:c" and EXPORT_ENV not in os.environ


def _shipyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False, cwd=ROOT)


def test_publish_with_a_gha_cache_exits_2_before_any_engine_starts() -> None:
    result = _shipyard("publish", "--tag", "v1.0.0", "--image", "localhost:5999/x", "--cache-to", "type=gha,mode=max")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("shipyard: error: --cache-to 'type=gha,mode=max': uses type=gha") and result.stderr.count("\n") == 1


def test_plan_says_whether_a_cache_is_configured_and_by_which_door() -> None:
    result = _shipyard("plan", "--tag", "v1.0.0", "--cache-from", "a.io/x:c", "--cache-to", "type=registry,ref=a.io/x:c,mode=max")
    assert result.returncode == 0, result.stderr
    assert "  cache:     from a.io/x:c; to a.io/x:c (mode=max) (set by --cache-from/--cache-to)" in result.stdout
    plain = _shipyard("plan", "--tag", "v1.0.0")
    assert "  cache:     none (the engine's own state only)" in plain.stdout


def test_build_secrets_scope_the_registry_cache_tags_so_another_secret_finds_no_cache() -> None:
    config = cache_config(["a.io/x:cache"], ["type=registry,ref=a.io/x:cache,mode=max", "type=local,dest=/c"])
    one, same, other = config.scoped_by_secrets(["tok-1"]), config.scoped_by_secrets(["tok-1"]), config.scoped_by_secrets(["tok-2"])
    assert one == same and one.export_refs() != other.export_refs()
    (ref,) = one.export_refs()
    assert re.fullmatch(r"a\.io/x:cache-s[0-9a-f]{16}", str(ref)) and "tok-1" not in str(one.environment())
    assert [str(r) for r in one.imports] == [f"type=registry,ref={ref}"]
    assert one.exports[1] == config.exports[1]  # only registry tags are scoped
    assert one.secret_scoped and "scoped to the build secrets" in one.describe() and config.scoped_by_secrets([]) == config
    assert one.for_group("linux-arm64").export_refs()[0].tag == f"{ref.tag}-linux-arm64"
