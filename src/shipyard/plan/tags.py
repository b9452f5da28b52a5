"""Tag strategy: docker/metadata-action's ``tags:`` and ``flavor:`` language, plus Shipyard's default.

Users paste the ``tags:`` lines of their existing workflow unchanged and get the same tags.
Each line is ``type=<type>,attr=value,...``; lines are evaluated in priority order (highest
first, stable for equal priority), the first value produced is the main version, duplicates
are dropped and ``latest`` comes last. One deliberate difference: under ``latest=auto`` a
``type=ref,event=tag`` line whose tag is a semver pre-release does not produce ``latest``
(metadata-action would move ``latest`` to an ``-rc``; a release tool should not).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from enum import StrEnum

import semver

from shipyard.plan.errors import InvalidInput
from shipyard.plan.refs import TAG_PATTERN, tag_problem

SHA_PATTERN = re.compile(r"[0-9a-f]{40}")
_SANITIZE = re.compile(r"[^A-Za-z0-9._-]+")
_EXPRESSION = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
_RAW_ONLY = re.compile(r"\{\{\s*raw\s*\}\}")


class TagType(StrEnum):
    SCHEDULE = "schedule"
    SEMVER = "semver"
    SHA = "sha"
    RAW = "raw"
    REF = "ref"
    EDGE = "edge"


DEFAULT_PRIORITY = {TagType.SCHEDULE: 1000, TagType.SEMVER: 900, TagType.EDGE: 700, TagType.REF: 600, TagType.RAW: 200, TagType.SHA: 100}
_UNSUPPORTED_TYPES = {"match", "pep440"}
EVENTS = ("push", "pull_request", "pull_request_target", "workflow_dispatch", "release", "schedule")
_REF_EVENTS = ("branch", "tag", "pr")
_GLOBAL_EXPRESSIONS = ("branch", "tag", "sha", "is_default_branch")
_PATTERN_FIELDS = ("version", "major", "minor", "patch", "raw")


@dataclass(frozen=True)
class GitContext:
    """What triggered the release: the Git ref, the commit, the CI event and the default branch."""

    ref: str
    sha: str = ""
    event: str = "push"
    default_branch: str = "main"

    def __post_init__(self) -> None:
        if not self.ref.startswith(("refs/heads/", "refs/tags/", "refs/pull/")):
            raise InvalidInput(
                "ref",
                self.ref,
                "is not a full Git ref",
                "Use refs/tags/<tag>, refs/heads/<branch> or refs/pull/<n>/merge.",
            )
        if self.sha and not SHA_PATTERN.fullmatch(self.sha):
            raise InvalidInput("sha", self.sha, "is not a 40-character lower-case hex commit id", "Pass the full commit SHA.")
        if self.event not in EVENTS:
            raise InvalidInput("event", self.event, "is not a supported event", "Use one of: " + ", ".join(EVENTS) + ".")

    @property
    def tag(self) -> str:
        return self.ref.removeprefix("refs/tags/").replace("/", "-") if self.ref.startswith("refs/tags/") else ""

    @property
    def branch(self) -> str:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else ""

    @property
    def pr_number(self) -> str:
        match = re.fullmatch(r"refs/pull/([^/]+)/(?:merge|head)", self.ref)
        return match.group(1) if match else ""

    @property
    def is_default_branch(self) -> bool:
        return bool(self.branch) and self.branch == self.default_branch

    @classmethod
    def for_tag(cls, tag: str, sha: str = "", event: str = "push") -> GitContext:
        """The context of a release of ``tag`` (what ``release --tag v1.2.3`` means)."""
        return cls(ref=f"refs/tags/{tag}", sha=sha, event=event)


@dataclass(frozen=True)
class TagSpec:
    """One parsed ``tags:`` line."""

    type: TagType
    attrs: dict[str, str]
    priority: int
    line: str

    @property
    def enable(self) -> str:
        return self.attrs.get("enable", "true")


@dataclass(frozen=True)
class Flavor:
    """The ``flavor:`` block: when to add ``latest``, and a global prefix/suffix."""

    latest: str = "auto"
    prefix: str = ""
    suffix: str = ""
    prefix_on_latest: bool = False
    suffix_on_latest: bool = False


@dataclass(frozen=True)
class TagResult:
    """The computed tags: ``version`` is the main one (``None`` when nothing applied)."""

    version: str | None
    tags: tuple[str, ...]
    latest: bool

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "tags": list(self.tags)}


def sanitize_tag(value: str) -> str:
    """Replace each run of characters outside ``[A-Za-z0-9._-]`` with ``-``."""
    return _SANITIZE.sub("-", value)


def _split_fields(line: str) -> list[str]:
    return [f.strip() for f in next(csv.reader([line], skipinitialspace=True), [])]


def _non_empty_fields(line: str) -> list[str]:
    """The fields of a ``tags:`` line; an empty one (a stray comma) would silently clear ``value``."""
    fields = _split_fields(line)
    if "" in fields:
        raise InvalidInput("tag spec", line, "has an empty field (a trailing or doubled comma)", "Remove the extra comma.")
    return fields


def parse_tag_spec(line: str) -> TagSpec:
    """Parse one metadata-action ``tags:`` line, e.g. ``type=semver,pattern={{major}}.{{minor}}``."""
    if "${{" in line:
        raise InvalidInput(
            "tag spec",
            line,
            "contains an unevaluated GitHub expression",
            "Let the workflow evaluate ${{ ... }} and pass the result (true/false or a value).",
        )
    attrs: dict[str, str] = {}
    kind: str | None = None
    for fld in _non_empty_fields(line):
        key, sep, value = fld.partition("=")
        if not sep:
            attrs["value"] = fld
        elif key.strip().lower() == "type":
            kind = value.strip()
        else:
            attrs[key.strip().lower()] = value.strip()
    kind = kind or TagType.RAW.value
    if kind in _UNSUPPORTED_TYPES:
        raise InvalidInput("tag spec", line, f"type={kind} is not supported by Shipyard", _known_types())
    try:
        tag_type = TagType(kind)
    except ValueError:
        raise InvalidInput("tag spec", line, f"has unknown type {kind!r}", _known_types()) from None
    if tag_type is TagType.SEMVER:
        if "pattern" not in attrs:
            raise InvalidInput("tag spec", line, "type=semver needs a pattern", "Add pattern={{version}} (or {{major}}.{{minor}}, ...).")
        attrs.setdefault("value", "")
    elif tag_type is TagType.REF:
        event = attrs.get("event")
        if event is None:
            raise InvalidInput("tag spec", line, "type=ref needs an event", "Add event=branch, event=tag or event=pr.")
        if event not in _REF_EVENTS:
            raise InvalidInput("tag spec", line, f"has unknown event {event!r}", "Use event=branch, event=tag or event=pr.")
        if event == "pr":
            attrs.setdefault("prefix", "pr-")
    elif tag_type is TagType.RAW:
        if "value" not in attrs:
            raise InvalidInput("tag spec", line, "type=raw needs a value", "Add value=<tag>.")
    elif tag_type is TagType.SHA:
        attrs.setdefault("prefix", "sha-")
        attrs.setdefault("format", "short")
        if attrs["format"] not in ("short", "long"):
            raise InvalidInput("tag spec", line, f"has unknown format {attrs['format']!r}", "Use format=short or format=long.")
    elif tag_type is TagType.EDGE:
        attrs.setdefault("branch", "")
    elif tag_type is TagType.SCHEDULE:
        attrs.setdefault("pattern", "nightly")
    for key, value in attrs.items():
        allowed = _PATTERN_FIELDS if (tag_type is TagType.SEMVER and key == "pattern") else _GLOBAL_EXPRESSIONS
        for name in _EXPRESSION.findall(value):
            if name not in allowed:
                raise InvalidInput(
                    "tag spec",
                    line,
                    f"uses unknown expression {{{{{name}}}}}",
                    "Use "
                    + ", ".join(f"{{{{{n}}}}}" for n in allowed)
                    + ("" if name.split()[0] != "date" else " ({{date}} would tie tags to the clock)")
                    + ".",
                )
    priority_text = attrs.get("priority", str(DEFAULT_PRIORITY[tag_type]))
    try:
        priority = int(priority_text)
    except ValueError:
        raise InvalidInput("tag spec", line, f"has a non-numeric priority {priority_text!r}", "Use priority=<integer>.") from None
    return TagSpec(tag_type, attrs, priority, line)


def _known_types() -> str:
    return "Use one of: " + ", ".join(f"type={t.value}" for t in TagType) + "."


def parse_flavor(lines: list[str]) -> Flavor:
    """Parse ``flavor:`` lines: ``latest=auto|true|false``, ``prefix=..[,onlatest=..]``, ``suffix=..``."""
    latest, prefix, suffix = "auto", "", ""
    prefix_on_latest = suffix_on_latest = False
    for line in _clean_lines(lines):
        last = ""
        for fld in _split_fields(line):
            key, sep, value = fld.partition("=")
            key, value = key.strip(), value.strip()
            if not sep:
                raise InvalidInput("flavor", line, "is not a key=value entry", "Use latest=, prefix=, suffix= or onlatest=.")
            if key == "latest":
                if value not in ("auto", "true", "false"):
                    raise InvalidInput("flavor", line, f"latest={value} is not allowed", "Use latest=auto, latest=true or latest=false.")
                latest = value
            elif key in ("prefix", "suffix"):
                prefix, suffix = (value, suffix) if key == "prefix" else (prefix, value)
                last = key
            elif key == "onlatest":
                if value not in ("true", "false"):
                    raise InvalidInput("flavor", line, f"onlatest={value} is not allowed", "Use onlatest=true or onlatest=false.")
                if last == "prefix":
                    prefix_on_latest = value == "true"
                elif last == "suffix":
                    suffix_on_latest = value == "true"
            else:
                raise InvalidInput("flavor", line, f"has unknown entry {key!r}", "Use latest=, prefix=, suffix= or onlatest=.")
    return Flavor(latest, prefix, suffix, prefix_on_latest, suffix_on_latest)


def _clean_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    for item in lines:
        for line in item.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def parse_tag_specs(lines: list[str]) -> list[TagSpec]:
    specs = [parse_tag_spec(line) for line in _clean_lines(lines)]
    return sorted(specs, key=lambda s: -s.priority)  # sorted() is stable for equal priority


def default_tag_specs(ctx: GitContext) -> tuple[list[TagSpec], Flavor]:
    """Shipyard's release table when no ``tags:`` are given.

    ``v1.2.3`` -> ``1.2.3, 1.2, 1, sha-<7>, latest``; a pre-release -> its version and ``sha-``;
    a 0.x release gets no bare ``0``; a manual run with a non-semver tag -> exactly that tag.
    """
    version = parse_semver(ctx.tag) if ctx.tag else None
    if version is not None:
        major = "true" if version.major > 0 else "false"
        lines = [
            "type=semver,pattern={{version}}",
            "type=semver,pattern={{major}}.{{minor}}",
            f"type=semver,pattern={{{{major}}}},enable={major}",
            "type=sha",
        ]
        return parse_tag_specs(lines), Flavor()
    if ctx.tag and ctx.event == "workflow_dispatch":
        return parse_tag_specs([f"type=raw,value={ctx.tag}"]), Flavor(latest="false")
    if ctx.tag:
        return parse_tag_specs(["type=ref,event=tag", "type=sha"]), Flavor(latest="false")
    return parse_tag_specs(["type=ref,event=branch", "type=ref,event=pr", "type=sha"]), Flavor()


def parse_semver(text: str) -> semver.Version | None:
    """Strict semver with an optional leading ``v``; ``None`` when it is not one."""
    candidate = text[1:] if text.startswith("v") else text
    try:
        return semver.Version.parse(candidate)
    except ValueError:
        return None


class _Evaluator:
    def __init__(self, ctx: GitContext, flavor: Flavor) -> None:
        self.ctx = ctx
        self.flavor = flavor

    def expand(self, text: str, where: str) -> str:
        values = {
            "branch": self.ctx.branch,
            "tag": self.ctx.tag,
            "sha": self.ctx.sha[:7],
            "is_default_branch": "true" if self.ctx.is_default_branch else "false",
        }

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise InvalidInput(
                    where,
                    text,
                    f"uses unknown expression {{{{{name}}}}}",
                    "Use {{branch}}, {{tag}}, {{sha}} or {{is_default_branch}}.",
                )
            return values[name]

        return _EXPRESSION.sub(substitute, text)

    def affix(self, value: str, spec: TagSpec) -> str:
        prefix = spec.attrs.get("prefix", self.flavor.prefix)
        suffix = spec.attrs.get("suffix", self.flavor.suffix)
        return self.expand(prefix, "prefix") + value + self.expand(suffix, "suffix")


@dataclass
class _Accumulator:
    main: str | None = None
    partial: list[str] = field(default_factory=list)
    latest: bool | None = None

    def add(self, value: str, latest: bool) -> None:
        if not value:
            return
        value = sanitize_tag(value)
        if self.main is None:
            self.main = value
        elif value != self.main and value not in self.partial:
            self.partial.append(value)
        if self.latest is None:
            self.latest = latest


def _render_pattern(pattern: str, version: semver.Version, raw: str, line: str) -> str:
    core = f"{version.major}.{version.minor}.{version.patch}"
    fields = {
        "version": core + (f"-{version.prerelease}" if version.prerelease else ""),
        "major": str(version.major),
        "minor": str(version.minor),
        "patch": str(version.patch),
        "raw": raw,
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fields:
            raise InvalidInput(
                "tag spec",
                line,
                f"pattern uses unknown placeholder {{{{{name}}}}}",
                "Use {{version}}, {{major}}, {{minor}}, {{patch}} or {{raw}}.",
            )
        return fields[name]

    return _EXPRESSION.sub(substitute, pattern)


def compute_tags(ctx: GitContext, specs: list[TagSpec] | None = None, flavor: Flavor | None = None) -> TagResult:
    """Evaluate tag specs (default: :func:`default_tag_specs`) against a Git context."""
    if specs is None:
        specs, default_flavor = default_tag_specs(ctx)
        flavor = flavor or default_flavor
    flavor = flavor or Flavor()
    ev = _Evaluator(ctx, flavor)
    forced = flavor.latest == "true"
    acc = _Accumulator()
    for spec in specs:
        enabled = ev.expand(spec.enable, "enable")
        if enabled not in ("true", "false"):
            raise InvalidInput("tag spec", spec.line, f"enable={enabled!r} is not true or false", "Use enable=true or enable=false.")
        if enabled == "false":
            continue
        if spec.type is TagType.SEMVER:
            _semver_line(spec, ctx, ev, acc, flavor)
        elif spec.type is TagType.SHA:
            if ctx.sha:
                acc.add(ev.affix(ctx.sha if spec.attrs["format"] == "long" else ctx.sha[:7], spec), forced)
        elif spec.type is TagType.RAW:
            acc.add(ev.affix(ev.expand(spec.attrs["value"], "value"), spec), forced)
        elif spec.type is TagType.EDGE:
            branch = spec.attrs["branch"] or ctx.default_branch
            if ctx.branch and ctx.branch == branch:
                acc.add(ev.affix("edge", spec), forced)
        elif spec.type is TagType.REF:
            _ref_line(spec, ctx, ev, acc, flavor)
        elif spec.type is TagType.SCHEDULE and ctx.event == "schedule":
            acc.add(ev.affix(ev.expand(spec.attrs["pattern"], "pattern"), spec), forced)
    if acc.main is None:
        return TagResult(None, (), False)
    latest = bool(acc.latest)
    tags = [acc.main, *acc.partial]
    if latest:
        name = (flavor.prefix if flavor.prefix_on_latest else "") + "latest" + (flavor.suffix if flavor.suffix_on_latest else "")
        name = sanitize_tag(ev.expand(name, "flavor"))
        tags = [t for t in tags if t != name] + [name]
    _check_tag_values(tags)
    return TagResult(acc.main, tuple(tags), latest)


def _check_tag_values(tags: list[str]) -> None:
    """Every computed tag must be one a registry accepts (``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``)."""
    for tag in tags:
        if not TAG_PATTERN.fullmatch(tag):
            problem = f"is not a valid image tag ({tag_problem(tag)})"
            raise InvalidInput("computed image tag", tag, problem, "Change the --spec/--flavor line (or --tag) that produces it.")


def _semver_line(spec: TagSpec, ctx: GitContext, ev: _Evaluator, acc: _Accumulator, flavor: Flavor) -> None:
    if spec.attrs["value"]:
        raw = ev.expand(spec.attrs["value"], "value")
    elif ctx.tag:
        raw = ctx.tag
    else:
        return
    version = parse_semver(raw)
    if version is None:
        return
    pattern = spec.attrs["pattern"]
    if version.prerelease and not _RAW_ONLY.fullmatch(pattern.strip()):
        pattern = "{{version}}"  # pre-releases only ever get their full version (or {{raw}})
    value = _render_pattern(pattern, version, raw, spec.line)
    latest = not version.prerelease if flavor.latest == "auto" else flavor.latest == "true"
    acc.add(ev.affix(value, spec), latest)


def _ref_line(spec: TagSpec, ctx: GitContext, ev: _Evaluator, acc: _Accumulator, flavor: Flavor) -> None:
    event = spec.attrs["event"]
    forced = flavor.latest == "true"
    if event == "branch" and ctx.branch:
        acc.add(ev.affix(sanitize_tag(ctx.branch), spec), forced)
    elif event == "tag" and ctx.tag:
        version = parse_semver(ctx.tag)
        stable = version is None or not version.prerelease
        acc.add(ev.affix(ctx.tag, spec), stable if flavor.latest == "auto" else forced)
    elif event == "pr" and ctx.pr_number:
        acc.add(ev.affix(ctx.pr_number, spec), forced)


def tags_for(
    *,
    ref: str,
    sha: str = "",
    event: str = "push",
    default_branch: str = "main",
    specs: list[str] | None = None,
    flavor: list[str] | None = None,
) -> TagResult:
    """The ``tags`` command and Dagger function: raw string inputs in, computed tags out."""
    ctx = GitContext(ref=ref, sha=sha, event=event, default_branch=default_branch)
    parsed = parse_tag_specs(specs) if specs else None
    return compute_tags(ctx, parsed, parse_flavor(flavor) if flavor else None)
