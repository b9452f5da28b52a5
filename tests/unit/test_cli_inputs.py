"""Every bad input gets a clear answer: the ``shipyard`` command run on mistakes a user makes.

Each row is one mistake, on every command and flag: the exit code is 2 (bad input) or 3 (a
registry failed), stderr is one line that names the offending input, there is never a
traceback, and nothing on stdout could pass for a result. Registry failures use an unreachable
local port, so no registry is needed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.cli import main

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
UNREACHABLE = "127.0.0.1:1"  # nothing listens there: connections are refused at once


@dataclass(frozen=True)
class Bad:
    """A command line with one mistake; ``names`` must all appear in stderr. ``{dir}`` is a
    directory of prepared files (see :func:`files`)."""

    argv: tuple[str, ...]
    names: tuple[str, ...]
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


def bad(*argv: str, names: tuple[str, ...] | str, code: int = 2, env: dict[str, str] | None = None) -> Bad:
    return Bad(argv, (names,) if isinstance(names, str) else names, code, env or {})


TAGS = ("tags", "--ref", "refs/tags/v1.2.3", "--sha", SHA)
PLAN = ("plan", "--tag", "v1.2.3")
CLEAN = ("cleanup", "--image", "127.0.0.1:5000/acme/app")
README = ("sync-readme", "--image", "docker.io/acme/app", "--readme", "{dir}/README.md", "--username", "bot")
TOKEN = ("--password", "env:SHIPYARD_TEST_TOKEN")

CASES: dict[str, Bad] = {
    # the command line itself
    "no command": bad(names="command"),
    "unknown command": bad("release", names="'release'"),
    # tags
    "ref not a full ref": bad("tags", "--ref", "v1.2.3", names=("ref 'v1.2.3'", "refs/tags/")),
    "short sha": bad("tags", "--ref", "refs/tags/v1", "--sha", "abc", names="sha 'abc'"),
    "unknown event": bad("tags", "--ref", "refs/tags/v1", "--event", "nope", names=("--event", "'nope'")),
    "trailing comma drops the value": bad(*TAGS, "--spec", "type=raw,value=x,", names=("type=raw,value=x,", "empty field")),
    "doubled comma": bad(*TAGS, "--spec", "type=raw,,value=x", names=("type=raw,,value=x", "empty field")),
    "unknown type lists schedule": bad(*TAGS, "--spec", "type=foo", names=("type=foo", "schedule")),
    "semver without pattern": bad(*TAGS, "--spec", "type=semver", names=("type=semver", "pattern={{version}}")),
    "raw value starting with a dash": bad(*TAGS, "--spec", "type=raw,value=-x", names=("'-x'", "valid image tag")),
    "raw value of 300 characters": bad(*TAGS, "--spec", "type=raw,value=" + "a" * 300, names=("a" * 30, "valid image tag")),
    "unknown expression": bad(*TAGS, "--spec", "type=raw,value={{nope}}", names="{{nope}}"),
    "unknown sha format": bad(*TAGS, "--spec", "type=sha,format=medium", names="format 'medium'"),
    "ref without event": bad(*TAGS, "--spec", "type=ref", names=("type=ref", "event=branch")),
    "non-numeric priority": bad(*TAGS, "--spec", "type=raw,value=x,priority=high", names="priority 'high'"),
    "enable not a boolean": bad(*TAGS, "--spec", "type=raw,value=x,enable=maybe", names="enable='maybe'"),
    "unevaluated workflow expression": bad(*TAGS, "--spec", "type=raw,value=${{ github.ref }}", names="${{ github.ref }}"),
    "flavor latest": bad(*TAGS, "--flavor", "latest=sometimes", names="latest=sometimes"),
    "flavor not key=value": bad(*TAGS, "--flavor", "wat", names=("flavor 'wat'", "key=value")),
    "flavor prefix makes a bad tag": bad(*TAGS, "--flavor", "prefix=-", names=("'-1.2.3'", "valid image tag")),
    # plan
    "empty tag": bad("plan", "--tag", "", names=("--tag ''", "is empty")),
    "tag is a ref": bad("plan", "--tag", "refs/tags/v1.2.3", names=("--tag", "--tag v1.2.3")),
    "tag with a space": bad("plan", "--tag", "v1 2", names=("--tag 'v1 2'", "Git tag name")),
    "tag with '..'": bad("plan", "--tag", "v1..2", names="--tag 'v1..2'"),
    "epoch after year 9999": bad(*PLAN, "--source-date-epoch", "253402300800", names=("--source-date-epoch", "9999")),
    "negative epoch": bad(*PLAN, "--source-date-epoch", "-5", names=("--source-date-epoch", "negative")),
    "epoch not a number": bad(*PLAN, "--source-date-epoch", "yesterday", names=("--source-date-epoch", "'yesterday'")),
    "SOURCE_DATE_EPOCH not a number": bad(*PLAN, names="SOURCE_DATE_EPOCH", env={"SOURCE_DATE_EPOCH": "1.5"}),
    "target with empty path part and tag": bad(*PLAN, "--image", "GHCR.io//x:", names=("--image 'GHCR.io//x:'", "empty path")),
    "target without credentials": bad(*PLAN, "--image", "ghcr.io/acme/app", names=("--image", "--registry-auth ghcr.io=")),
    "target with a tag": bad(*PLAN, "--image", "ghcr.io/acme/app:1.0", names=("--image", "carries a tag")),
    "target option": bad(*PLAN, "--image", "127.0.0.1:5000/app,maybe", names=("--image", "'maybe'")),
    "target port out of range": bad(*PLAN, "--image", "127.0.0.1:99999/app", names=("--image", "port 99999")),
    "target twice": bad(*PLAN, "--image", "127.0.0.1:5000/app", "--image", "127.0.0.1:5000/app", names=("--image", "twice")),
    "windows platform": bad(*PLAN, "--platform", "windows/amd64", names=("--platform", "'windows'")),
    "unknown platform": bad(*PLAN, "--platform", "linux/sparc", names=("--platform 'linux/sparc'", "linux/amd64")),
    "platform list of nothing": bad(*PLAN, "--platform", ",", names=("--platform", "names no platform")),
    "scan gate of nothing": bad(*PLAN, "--scan-fail-on", ",", names=("--scan-fail-on ','", "names no severity")),
    "unknown severity": bad(*PLAN, "--scan-fail-on", "CRITICAL,SEVERE", names=("--scan-fail-on", "'SEVERE'")),
    "unknown signing mode": bad(*PLAN, "--sign", "maybe", names=("--sign", "'maybe'")),
    "unknown sbom format": bad(*PLAN, "--sbom", "xml", names=("--sbom", "'xml'")),
    "credentials for a path": bad(*PLAN, "--registry-credentials", "ghcr.io/acme", names=("--registry-credentials", "ghcr.io/acme")),
    "plan sha": bad(*PLAN, "--sha", "HEAD", names="sha 'HEAD'"),
    "source not a directory": bad(*PLAN, "--source", "{dir}/missing", names=("--source", "not a directory")),
    "plan raw value starting with a dash": bad(*PLAN, "--spec", "type=raw,value=-x", names=("'-x'", "valid image tag")),
    "plan trailing comma": bad(*PLAN, "--spec", "type=raw,value=x,", names="type=raw,value=x,"),
    # cleanup
    "empty repository": bad("cleanup", "--image", "", names=("--image", "is missing")),
    "repository port out of range": bad("cleanup", "--image", "127.0.0.1:99999/x/y", names=("--image", "port 99999")),
    "repository upper case": bad("cleanup", "--image", "ghcr.io/Acme/app", names=("--image", "lower case")),
    "repository with a tag": bad("cleanup", "--image", "127.0.0.1:5000/app:1", names=("--image", "carries a tag")),
    "age overflows days": bad(*CLEAN, "--older-than", "1000000000d", names=("--older-than '1000000000d'", "36500 days")),
    "age overflows weeks": bad(*CLEAN, "--older-than", "99999999999w", names=("--older-than '99999999999w'", "36500 days")),
    "age of zero": bad(*CLEAN, "--older-than", "0d", names=("--older-than '0d'", "zero")),
    "age in years": bad(*CLEAN, "--older-than", "3y", names=("--older-than '3y'", "90d")),
    "negative keep-untagged": bad(*CLEAN, "--keep-untagged", "-1", names=("--keep-untagged", "negative")),
    "keep-untagged not a number": bad(*CLEAN, "--keep-untagged", "ten", names=("--keep-untagged", "'ten'")),
    "negative keep-prereleases": bad(*CLEAN, "--keep-prereleases", "-2", names=("--keep-prereleases", "negative")),
    "protect a phrase": bad(*CLEAN, "--protect", "feature x", names=("--protect 'feature x'", "' '")),
    "protect a bad regex": bad(*CLEAN, "--protect-regex", "(", names=("--protect-regex '('", "regular expression")),
    "protect an empty regex": bad(*CLEAN, "--protect-regex", "", names=("--protect-regex", "empty")),
    "age rule with only-untagged": bad(*CLEAN, "--only-untagged", "--older-than", "90d", names=("--older-than", "--only-untagged")),
    "ghcr backend elsewhere": bad("cleanup", "--image", "quay.io/acme/app", "--backend", "ghcr", names=("--backend", "quay.io")),
    "hub backend elsewhere": bad("cleanup", "--image", "quay.io/acme/app", "--backend", "dockerhub", names=("--backend", "quay.io")),
    "unknown backend": bad(*CLEAN, "--backend", "s3", names=("--backend", "'s3'")),
    "api url not a URL": bad("cleanup", "--image", "ghcr.io/acme/app", "--api-url", "ftp://x", names=("--api-url 'ftp://x'", "http")),
    "api url port": bad("cleanup", "--image", "ghcr.io/acme/app", "--api-url", "http://h:70000", names=("--api-url", "70000")),
    "api url unused": bad(*CLEAN, "--api-url", "http://127.0.0.1:8080", names=("--api-url", "oci backend")),
    "password is a directory": bad(*CLEAN, "--password", "file:{dir}", names=("--password", "is a directory")),
    "password file missing": bad(*CLEAN, "--password", "file:{dir}/missing", names=("--password", "does not exist")),
    "password given in clear": bad(*CLEAN, "--password", "hunter2", names=("--password", "env:NAME or file:PATH")),
    "password variable unset": bad(*CLEAN, "--password", "env:SHIPYARD_TEST_UNSET", names=("--password", "SHIPYARD_TEST_UNSET")),
    "password variable name": bad(*CLEAN, "--password", "env:A B", names=("--password", "environment variable name")),
    "password file not UTF-8": bad(*CLEAN, "--password", "file:{dir}/latin1.txt", names=("--password", "not UTF-8")),
    "password file unreadable": bad(*CLEAN, "--password", "file:{dir}/secret.txt", names=("--password", "permission denied")),
    "password file empty": bad(*CLEAN, "--password", "file:{dir}/empty.txt", names=("--password", "is empty")),
    "username without password": bad(*CLEAN, "--username", "bot", names=("--username 'bot'", "--password")),
    "registry unreachable": bad("cleanup", "--image", f"{UNREACHABLE}/x/y", names=(UNREACHABLE, "reachable"), code=3),
    "ghcr api unreachable": bad(
        "cleanup", "--image", "ghcr.io/acme/app", "--api-url", f"http://{UNREACHABLE}", names=(UNREACHABLE, "reachable"), code=3
    ),
    # sync-readme
    "readme not UTF-8": bad(*README[:4], "{dir}/latin1.txt", *README[5:], *TOKEN, names=("--readme", "not UTF-8")),
    "readme missing": bad(*README[:4], "{dir}/missing.md", *README[5:], *TOKEN, names=("--readme", "does not exist")),
    "readme is a directory": bad(*README[:4], "{dir}", *README[5:], *TOKEN, names=("--readme", "is a directory")),
    "readme empty": bad(*README[:4], "{dir}/empty.txt", *README[5:], *TOKEN, names=("--readme", "erase")),
    "readme too large": bad(*README[:4], "{dir}/big.md", *README[5:], *TOKEN, names=("--readme", "25000-byte")),
    "short description too long": bad(*README, *TOKEN, "--short-description", "x" * 101, names=("--short-description", "100")),
    "short description of two lines": bad(*README, *TOKEN, "--short-description", "a\nb", names=("--short-description", "lines")),
    "readme for another registry": bad(
        "sync-readme",
        "--image",
        "ghcr.io/acme/app",
        "--readme",
        "{dir}/README.md",
        "--username",
        "bot",
        *TOKEN,
        names=("--image", "Docker Hub"),
    ),
    "readme username empty": bad(*README[:6], "", *TOKEN, names=("--username", "is empty")),
    "readme api url": bad(*README, *TOKEN, "--api-url", "hub.docker.com", names=("--api-url", "http")),
    "readme password directory": bad(*README, "--password", "file:/", names=("--password", "is a directory")),
    "readme api unreachable": bad(*README, *TOKEN, "--api-url", f"http://{UNREACHABLE}", names=(UNREACHABLE, "reachable"), code=3),
}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A README, files that cannot serve as a README or token, and a token in the environment."""
    (tmp_path / "README.md").write_text("# App\n")
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "big.md").write_text("x" * 26_000)
    secret = tmp_path / "secret.txt"
    secret.write_text("token\n")
    secret.chmod(0)
    if os.geteuid() == 0:  # root reads any file: make this one refuse as it would for a user
        real_open = pathlib.Path.open

        def refuse(self: Path, *args: object, **kwargs: object) -> object:
            if self == secret:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(pathlib.Path, "open", refuse)
    monkeypatch.setenv("SHIPYARD_TEST_TOKEN", "dckr_pat_x")
    monkeypatch.delenv("SHIPYARD_TEST_UNSET", raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("SHIPYARD_DEBUG", raising=False)
    yield tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as usage:  # argparse's own usage errors (exit 2) and --help
        code = usage.code if isinstance(usage.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


def test_there_are_many_mistakes_on_every_command() -> None:
    assert len(CASES) >= 40
    assert {c.argv[0] for c in CASES.values() if c.argv} == {"tags", "plan", "cleanup", "sync-readme", "release"}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_mistake_gets_one_clear_line_naming_the_input(
    case: Bad, files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    code, out, err = run([a.replace("{dir}", str(files)) for a in case.argv], capsys)
    assert code == case.code, err
    assert "Traceback" not in out + err
    assert out == ""  # nothing that could pass for a plan, tags or a report
    for name in case.names:
        assert name in err, f"{name!r} not in {err!r}"
    lines = err.strip().splitlines()
    if lines[0].startswith("usage:"):  # argparse: the usage, then its error naming the argument
        assert lines[-1].startswith("shipyard") and "error: " in lines[-1] and len(lines) <= 14
    else:
        assert len(lines) == 1 and lines[0].startswith("shipyard: error: ")


def test_a_closed_pipe_ends_quietly() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m shipyard plan --tag v1.2.3 --json | head -c1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        executable="/bin/bash",
    )
    assert proc.stdout == "{" and proc.stderr == ""


def test_a_bug_is_one_line_with_a_hint_and_exit_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: object) -> object:
        raise KeyError("boom")

    monkeypatch.setattr("shipyard.commands.tags.tags_for", broken)
    monkeypatch.delenv("SHIPYARD_DEBUG", raising=False)
    code, out, err = run(["tags", "--ref", "refs/tags/v1"], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "KeyError" in err and "please report it" in err and "SHIPYARD_DEBUG=1" in err
    assert "Traceback" not in err
    monkeypatch.setenv("SHIPYARD_DEBUG", "1")
    code, _, err = run(["tags", "--ref", "refs/tags/v1"], capsys)
    assert code == 1 and "Traceback" in err and "please report it" in err


# --- any text, in any free-text flag ---------------------------------------------------------

SOME_TEXT = __file__
HUB_REPO = ("--image", "docker.io/a/b")
HUB_USER = ("--username", "u", "--password", "env:SHIPYARD_TEST_UNSET")
FREE_TEXT: dict[str, tuple[tuple[str, ...], str]] = {
    # flag: (the rest of a command line that is valid on its own, the flag)
    "tags --ref": (("tags",), "--ref"),
    "tags --sha": (("tags", "--ref", "refs/heads/main"), "--sha"),
    "tags --default-branch": (("tags", "--ref", "refs/heads/main"), "--default-branch"),
    "tags --spec": (TAGS, "--spec"),
    "tags --flavor": (TAGS, "--flavor"),
    "plan --tag": (("plan",), "--tag"),
    "plan --target": (PLAN, "--image"),
    "plan --platform": (PLAN, "--platform"),
    "plan --sha": (PLAN, "--sha"),
    "plan --spec": (PLAN, "--spec"),
    "plan --flavor": (PLAN, "--flavor"),
    "plan --scan-fail-on": (PLAN, "--scan-fail-on"),
    "plan --registry-credentials": (PLAN, "--registry-credentials"),
    "plan --source-date-epoch": (PLAN, "--source-date-epoch"),
    # cleanup: the API is an unreachable local port, so a valid value ends in exit 3, offline
    "cleanup --repository": (("cleanup", "--backend", "ghcr", "--api-url", f"http://{UNREACHABLE}"), "--image"),
    "cleanup --older-than": (("cleanup", "--image", f"{UNREACHABLE}/x"), "--older-than"),
    "cleanup --protect": (("cleanup", "--image", f"{UNREACHABLE}/x"), "--protect"),
    "cleanup --protect-regex": (("cleanup", "--image", f"{UNREACHABLE}/x"), "--protect-regex"),
    "cleanup --username": (("cleanup", "--image", f"{UNREACHABLE}/x"), "--username"),
    "cleanup --password": (("cleanup", "--image", f"{UNREACHABLE}/x"), "--password"),
    "cleanup --api-url": (("cleanup", "--image", "ghcr.io/acme/app"), "--api-url"),
    "cleanup --keep-untagged": (("cleanup", "--image", f"{UNREACHABLE}/x"), "--keep-untagged"),
    # sync-readme: the token variable is unset, so nothing is ever sent
    "sync-readme --repository": (("sync-readme", "--readme", SOME_TEXT, *HUB_USER), "--image"),
    "sync-readme --readme": (("sync-readme", *HUB_REPO, *HUB_USER), "--readme"),
    "sync-readme --short-description": (("sync-readme", *HUB_REPO, "--readme", SOME_TEXT, *HUB_USER), "--short-description"),
}

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="abc019:/.,-_=@{}$ \n\t", max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", " ", ",", "-", "--", "0", "-1", "9" * 400, "\x00", "file:/", "env:", "type=raw,value=", "{{", "://"]),
)


@pytest.mark.parametrize("flag", FREE_TEXT.values(), ids=FREE_TEXT.keys())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=texts)
def test_any_text_in_any_flag_gets_an_answer_never_a_traceback(
    flag: tuple[tuple[str, ...], str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base, name = flag
    code, out, err = run([*base, f"{name}={value}"], capsys)
    assert code in (0, 2, 3), err
    assert "Traceback" not in out + err
    if code:
        assert out == "" and 1 <= len(err.strip().splitlines()) <= 14
