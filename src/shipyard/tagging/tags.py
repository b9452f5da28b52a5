"""Tag strategy: docker/metadata-action's ``tags:`` and ``flavor:`` language, plus Shipyard's default.

Users paste the ``tags:`` lines of their existing workflow unchanged and get the same tags.
Each line is ``type=<type>,attr=value,...``; lines are evaluated in priority order (highest
first, stable for equal priority), the first value produced is the main version and decides
``latest`` under ``latest=auto``, later duplicates are dropped and ``latest`` comes last.

Where Shipyard is stricter than metadata-action, it fails before anything runs instead of
producing a tag a registry would refuse: an expression it does not know (``{{nope}}``), a tag
that is not a valid image tag, ``{{date}}`` without a clock (it never reads the wall clock).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from shipyard.errors import InvalidInput
from shipyard.tagging import template
from shipyard.tagging.dates import UTC_ZONE, format_instant, zone
from shipyard.tagging.jsregex import compile_js
from shipyard.tagging.template import Argument, Helper, TemplateError
from shipyard.values.refs import TAG_PATTERN
from shipyard.values.versions import parse_semver as parse_semver  # re-exported: retention reads versions through it
from shipyard.values.versions import pep440_fields, semver_fields

SHA_PATTERN = re.compile(r"[0-9a-f]{40}")
_SANITIZE = re.compile(r"[^A-Za-z0-9._-]+")


class TagType(StrEnum):
    SCHEDULE = "schedule"
    SEMVER = "semver"
    PEP440 = "pep440"
    MATCH = "match"
    EDGE = "edge"
    REF = "ref"
    RAW = "raw"
    SHA = "sha"


DEFAULT_PRIORITY = {
    TagType.SCHEDULE: 1000,
    TagType.SEMVER: 900,
    TagType.PEP440: 900,
    TagType.MATCH: 800,
    TagType.EDGE: 700,
    TagType.REF: 600,
    TagType.RAW: 200,
    TagType.SHA: 100,
}
EVENTS = (
    "push",
    "pull_request",
    "pull_request_target",
    "workflow_dispatch",
    "release",
    "schedule",
    "create",
    "discussion",
    "discussion_comment",
    "issues",
)
# Events that only ever run on the default branch's last commit: {{is_default_branch}} is true there.
_DEFAULT_BRANCH_EVENTS = ("create", "discussion", "issues", "schedule")
_REF_EVENTS = ("branch", "tag", "pr")
_TYPES = ", ".join(t.value for t in TagType)

_SEMVER_FIELDS = ("raw", "version", "major", "minor", "patch", "prerelease", "build")
_PEP440_FIELDS = ("raw", "version", "major", "minor", "patch")
_DATE_HELPERS = ("date", "commit_date")
GLOBAL_EXPRESSIONS = ("branch", "tag", "sha", "base_ref", "is_default_branch", "is_not_default_branch", *_DATE_HELPERS)


@dataclass(frozen=True)
class GitContext:
    """What triggered the release: Git ref, commit, CI event, default branch, base branch and the clock.

    An empty ``ref`` is allowed (no tag, branch or pull request: most lines produce nothing).
    The clock is ``source_date_epoch`` or ``commit_epoch`` (seconds); never the wall clock.
    """

    ref: str = ""
    sha: str = ""
    event: str = "push"
    default_branch: str = "main"
    base_ref: str = ""
    commit_epoch: int | None = None
    source_date_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.ref and not self.ref.startswith(("refs/heads/", "refs/tags/", "refs/pull/")):
            raise InvalidInput(
                "ref",
                self.ref,
                "is not a full Git ref",
                "Use refs/tags/<tag>, refs/heads/<branch> or refs/pull/<n>/merge.",
            )
        if self.sha and not SHA_PATTERN.fullmatch(self.sha):
            raise InvalidInput("sha", self.sha, "is not a 40-character lower-case hex commit id", "Pass the full commit SHA.")
        if self.event not in EVENTS:
            raise InvalidInput("--event", self.event, "is not a supported event", "Use one of: " + ", ".join(EVENTS) + ".")

    @property
    def tag(self) -> str:
        """The Git tag name as written (``p1/v1.0.0``); sanitized only when it becomes an image tag."""
        return self.ref.removeprefix("refs/tags/") if self.ref.startswith("refs/tags/") else ""

    @property
    def branch(self) -> str:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else ""

    @property
    def pull_request(self) -> str:
        """``refs/pull/12/merge`` -> ``12`` (any other suffix is kept: ``12/head``)."""
        return self.ref.removeprefix("refs/pull/").removesuffix("/merge") if self.ref.startswith("refs/pull/") else ""

    @property
    def is_default_branch(self) -> bool:
        """metadata-action's rule: the ref is the default branch, or the event only runs on it."""
        name = self.ref.removeprefix("refs/heads/")
        if not name:
            return False
        return name == self.default_branch or any(e in self.event for e in _DEFAULT_BRANCH_EVENTS)

    @property
    def base_branch(self) -> str:
        """``{{base_ref}}``: the base branch of a pull request, or the branch a tag was pushed from."""
        if self.ref.startswith(("refs/tags/", "refs/pull/")):
            return self.base_ref.removeprefix("refs/heads/")
        return ""

    @classmethod
    def for_tag(
        cls, tag: str, sha: str = "", event: str = "push", *, source_date_epoch: int | None = None, commit_epoch: int | None = None
    ) -> GitContext:
        """The context of a release of ``tag`` (what ``publish --tag v1.2.3`` means)."""
        return cls(ref=f"refs/tags/{tag}", sha=sha, event=event, source_date_epoch=source_date_epoch, commit_epoch=commit_epoch)


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
    """The ``flavor:`` block: when to add ``latest``, and a global prefix/suffix.

    ``prerelease_latest=False`` (``prerelease-latest=false``, a Shipyard addition) keeps
    ``type=ref,event=tag`` and ``type=match`` from moving ``latest`` under ``latest=auto`` when
    the Git tag (or ``value=``) is a SemVer or PEP 440 pre-release; metadata-action moves it.
    """

    latest: str = "auto"
    prefix: str = ""
    suffix: str = ""
    prefix_on_latest: bool = False
    suffix_on_latest: bool = False
    prerelease_latest: bool = True


@dataclass(frozen=True)
class TagResult:
    """The computed tags: ``version`` is the main one (``None`` when nothing applied)."""

    version: str | None
    tags: tuple[str, ...]
    latest: bool

    ok = True  # computing tags either works or raises InvalidInput

    def to_dict(self) -> dict[str, object]:
        """``{"version", "tags", "latest"}``: what ``--format json`` prints in both doors."""
        return {"version": self.version, "tags": list(self.tags), "latest": self.latest}

    def render_text(self) -> str:
        """One tag a line."""
        return "\n".join(self.tags) if self.tags else "(no tags)"


def sanitize_tag(value: str) -> str:
    """Replace each run of characters outside ``[A-Za-z0-9._-]`` with ``-``."""
    return _SANITIZE.sub("-", value)


def _split_fields(line: str) -> list[str]:
    return [f.strip() for f in next(csv.reader([line], skipinitialspace=True), [])]


def _bad_line(line: str, problem: str, fix: str) -> InvalidInput:
    return InvalidInput("tag spec", line, problem, fix)


def _check_expressions(line: str, text: str, allowed: tuple[str, ...], where: str) -> None:
    for name in template.names(text):
        if name not in allowed:
            raise _bad_line(
                line,
                f"{where} uses unknown expression {{{{{name}}}}}",
                "Use " + ", ".join(f"{{{{{n}}}}}" for n in allowed) + ".",
            )


def _non_empty_fields(line: str) -> list[str]:
    """The fields of a ``tags:`` line; an empty one (a stray comma) would silently clear ``value``."""
    fields = _split_fields(line)
    if "" in (f.strip() for f in fields):
        raise _bad_line(line, "has an empty field (a trailing or doubled comma)", "Remove the extra comma.")
    return fields


def parse_tag_spec(line: str) -> TagSpec:
    """Parse one metadata-action ``tags:`` line, e.g. ``type=semver,pattern={{major}}.{{minor}}``."""
    if "${{" in line:
        raise _bad_line(
            line,
            "contains an unevaluated GitHub expression",
            "Let the workflow evaluate ${{ ... }} and pass the result (true/false or a value).",
        )
    attrs: dict[str, str] = {}
    kind: str | None = None
    for fld in _non_empty_fields(line):
        key, sep, value = fld.partition("=")
        if not sep or not key.strip():
            attrs["value"] = fld
        elif key.strip().lower() == "type":
            kind = value.strip()
        else:
            attrs[key.strip().lower()] = value.strip()
    try:
        tag_type = TagType(kind or TagType.RAW.value)
    except ValueError:
        raise _bad_line(line, f"has unknown type {kind!r}", f"Use one of type={_TYPES}.") from None
    if tag_type in (TagType.SEMVER, TagType.PEP440):
        if "pattern" not in attrs:
            raise _bad_line(line, f"type={tag_type} needs a pattern", "Add pattern={{version}} (or {{major}}.{{minor}}, ...).")
        attrs.setdefault("value", "")
        attrs.setdefault("match", "")
    elif tag_type is TagType.MATCH:
        if "pattern" not in attrs:
            raise _bad_line(line, "type=match needs a pattern", r"Add pattern=<regex>, e.g. pattern=v(\d+\.\d+),group=1.")
        attrs.setdefault("group", "0")
        if not attrs["group"].isdigit():
            raise _bad_line(line, f"has a non-numeric group {attrs['group']!r}", "Use group=<number> (0 is the whole match).")
        attrs.setdefault("value", "")
        compile_js(attrs["pattern"], line=line)
    elif tag_type is TagType.REF:
        event = attrs.get("event")
        if event is None:
            raise _bad_line(line, "type=ref needs an event", "Add event=branch, event=tag or event=pr.")
        if event not in _REF_EVENTS:
            raise _bad_line(line, f"has unknown event {event!r}", "Use event=branch, event=tag or event=pr.")
        if event == "pr":
            attrs.setdefault("prefix", "pr-")
    elif tag_type is TagType.RAW:
        if "value" not in attrs:
            raise _bad_line(line, "type=raw needs a value", "Add value=<tag>.")
    elif tag_type is TagType.SHA:
        attrs.setdefault("prefix", "sha-")
        attrs.setdefault("format", "short")
        if attrs["format"] not in ("short", "long"):
            raise _bad_line(line, f"has unknown format {attrs['format']!r}", "Use format=short or format=long.")
    elif tag_type is TagType.EDGE:
        attrs.setdefault("branch", "")
    elif tag_type is TagType.SCHEDULE:
        attrs.setdefault("pattern", "nightly")
    if attrs.get("match"):
        compile_js(attrs["match"], line=line, literal=False)
    _check_line_expressions(tag_type, attrs, line)
    priority_text = attrs.get("priority", str(DEFAULT_PRIORITY[tag_type]))
    try:
        priority = int(priority_text)
    except ValueError:
        raise _bad_line(line, f"has a non-numeric priority {priority_text!r}", "Use priority=<integer>.") from None
    return TagSpec(tag_type, attrs, priority, line)


def _check_line_expressions(tag_type: TagType, attrs: dict[str, str], line: str) -> None:
    for key in ("value", "prefix", "suffix", "enable"):
        if key in attrs:
            _check_expressions(line, attrs[key], GLOBAL_EXPRESSIONS, key)
    pattern_names = {TagType.SEMVER: _SEMVER_FIELDS, TagType.PEP440: _PEP440_FIELDS, TagType.SCHEDULE: _DATE_HELPERS}
    if tag_type in pattern_names:
        _check_expressions(line, attrs["pattern"], pattern_names[tag_type], "pattern")


def parse_flavor(lines: list[str]) -> Flavor:
    """Parse ``flavor:`` lines: ``latest=auto|true|false``, ``prefix=..[,onlatest=..]``, ``suffix=..``.

    Shipyard adds ``prerelease-latest=true|false`` (see :class:`Flavor`).
    """
    latest, prefix, suffix = "auto", "", ""
    prefix_on_latest = suffix_on_latest = False
    prerelease_latest = True
    for line in _clean_lines(lines):
        last = ""
        for fld in _split_fields(line):
            parts = [p.strip() for p in fld.split("=")]
            if len(parts) == 1:
                raise InvalidInput("flavor", line, "is not a key=value entry", "Use latest=, prefix=, suffix= or onlatest=.")
            key, value = parts[0].lower(), parts[1]
            if key == "latest":
                if value not in ("auto", "true", "false"):
                    raise InvalidInput("flavor", line, f"latest={value} is not allowed", "Use latest=auto, latest=true or latest=false.")
                latest = value
            elif key in ("prefix", "suffix"):
                _check_flavor_expressions(line, value)
                prefix, suffix = (value, suffix) if key == "prefix" else (prefix, value)
                last = key
            elif key in ("onlatest", "prerelease-latest"):
                if value not in ("true", "false"):
                    raise InvalidInput("flavor", line, f"{key}={value} is not allowed", f"Use {key}=true or {key}=false.")
                if key == "prerelease-latest":
                    prerelease_latest = value == "true"
                elif last == "prefix":
                    prefix_on_latest = value == "true"
                elif last == "suffix":
                    suffix_on_latest = value == "true"
            else:
                raise InvalidInput(
                    "flavor", line, f"has unknown entry {key!r}", "Use latest=, prefix=, suffix=, onlatest= or prerelease-latest=."
                )
    return Flavor(latest, prefix, suffix, prefix_on_latest, suffix_on_latest, prerelease_latest)


def _check_flavor_expressions(line: str, text: str) -> None:
    for name in template.names(text):
        if name not in GLOBAL_EXPRESSIONS:
            known = ", ".join(f"{{{{{n}}}}}" for n in GLOBAL_EXPRESSIONS)
            raise InvalidInput("flavor", line, f"uses unknown expression {{{{{name}}}}}", f"Use {known}.")


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
    a 0.x release gets no bare ``0``; a manual run with a non-semver tag -> exactly that tag;
    no ref at all -> nothing.
    """
    if not ctx.ref:
        return [], Flavor()
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
        return parse_tag_specs(["type=ref,event=tag"]), Flavor(latest="false")
    if ctx.tag:
        return parse_tag_specs(["type=ref,event=tag", "type=sha"]), Flavor(latest="false")
    return parse_tag_specs(["type=ref,event=branch", "type=ref,event=pr", "type=sha"]), Flavor()


def is_prerelease(text: str) -> bool:
    """A SemVer pre-release (``v2.0.0-rc.1``) or a PEP 440 pre- or dev-release (``1.0rc1``)."""
    sem = semver_fields(text)
    if sem is not None:
        return sem.is_prerelease
    pep = pep440_fields(text)
    return pep is not None and pep.version.is_prerelease


def _constant(value: str) -> Helper:
    return lambda params, hash_args: value


class _Evaluator:
    """Evaluates expressions and affixes for one context and flavor."""

    def __init__(self, ctx: GitContext, flavor: Flavor) -> None:
        self.ctx = ctx
        self.flavor = flavor
        self.date_helpers: dict[str, Helper] = {
            "date": self._clock_helper("date", ctx.source_date_epoch if ctx.source_date_epoch is not None else ctx.commit_epoch),
            "commit_date": self._clock_helper("commit_date", ctx.commit_epoch if ctx.commit_epoch is not None else ctx.source_date_epoch),
        }
        default = "true" if ctx.is_default_branch else "false"
        self.globals: dict[str, Helper] = {
            "branch": _constant(ctx.branch),
            "tag": _constant(ctx.tag),
            "sha": _constant(ctx.sha[:7]),
            "base_ref": _constant(ctx.base_branch),
            "is_default_branch": _constant(default),
            "is_not_default_branch": _constant("false" if default == "true" else "true"),
            **self.date_helpers,
        }

    @staticmethod
    def _clock_helper(name: str, epoch: int | None) -> Helper:
        def helper(params: list[Argument], hash_args: dict[str, Argument]) -> str:
            if len(params) != 1:
                raise InvalidInput(f"{{{{{name}}}}}", params, "needs exactly one format", f"Write it as {{{{{name} 'YYYYMMDD'}}}}.")
            fmt = params[0]
            if fmt is not None and not isinstance(fmt, str):
                raise InvalidInput(f"{{{{{name}}}}}", fmt, "is not a format string", f"Quote the format: {{{{{name} 'YYYYMMDD'}}}}.")
            unknown = set(hash_args) - {"tz"}
            if unknown:
                raise InvalidInput(f"{{{{{name}}}}}", sorted(unknown), "are unknown attributes", "Only tz='Area/City' is allowed.")
            tz = hash_args.get("tz", UTC_ZONE)
            if not isinstance(tz, str):
                raise InvalidInput(f"{{{{{name}}}}}", tz, "tz is not a quoted time zone name", "Write tz='Europe/Paris'.")
            zone(tz)
            if epoch is None:
                raise InvalidInput(
                    f"{{{{{name}}}}}",
                    fmt,
                    "needs the commit time or SOURCE_DATE_EPOCH (Shipyard never reads the clock)",
                    "Pass --source-date-epoch (or set SOURCE_DATE_EPOCH), or --source <checkout> for the commit time.",
                )
            return format_instant(epoch, fmt, tz)

        return helper

    def render(self, text: str, helpers: Mapping[str, Helper], line: str) -> str:
        try:
            return template.render(text, helpers)
        except InvalidInput as exc:  # from a helper: say which line it came from
            raise _bad_line(line, f"{exc.name} {exc.value!r} {exc.problem}", exc.fix) from None
        except TemplateError as exc:
            fix = "Use the expressions metadata-action documents, e.g. {{branch}} or {{date 'YYYYMMDD'}}."
            raise _bad_line(line, str(exc), fix) from None

    def expand(self, text: str, line: str) -> str:
        return self.render(text, self.globals, line)

    def affix(self, value: str, spec: TagSpec) -> str:
        """Prefix and suffix: the line's own (even empty) wins over the flavor's."""
        prefix = spec.attrs.get("prefix", self.flavor.prefix)
        suffix = spec.attrs.get("suffix", self.flavor.suffix)
        return self.expand(prefix, spec.line) + value + self.expand(suffix, spec.line)


@dataclass
class _Accumulator:
    main: str | None = None
    partial: list[str] = field(default_factory=list)
    latest: bool | None = None

    def add(self, value: str, latest: bool, spec: TagSpec) -> None:
        if not value:
            return
        value = sanitize_tag(value)
        _check_image_tag(value, spec.line)
        if self.main is None:
            self.main = value
        elif value != self.main:
            self.partial.append(value)
        if self.latest is None:
            self.latest = latest


def _check_image_tag(value: str, line: str) -> None:
    if not TAG_PATTERN.fullmatch(value):
        raise _bad_line(
            line,
            f"produces {value!r}, which is not a valid image tag",
            "Image tags are 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'.",
        )


def compute_tags(ctx: GitContext, specs: list[TagSpec] | None = None, flavor: Flavor | None = None) -> TagResult:
    """Evaluate tag specs (default: :func:`default_tag_specs`) against a Git context."""
    if specs is None:
        specs, default_flavor = default_tag_specs(ctx)
        flavor = flavor or default_flavor
    flavor = flavor or Flavor()
    ev = _Evaluator(ctx, flavor)
    acc = _Accumulator()
    for spec in specs:
        enabled = ev.expand(spec.enable, spec.line)
        if enabled not in ("true", "false"):
            raise _bad_line(spec.line, f"enable={enabled!r} is not true or false", "Use enable=true or enable=false.")
        if enabled == "true":
            _evaluate_line(spec, ctx, ev, acc)
    if acc.main is None:
        return TagResult(None, (), False)
    tags = [acc.main, *acc.partial]
    latest = bool(acc.latest)
    if latest:
        # metadata-action takes the flavor prefix/suffix for `latest` as written (expressions unevaluated).
        name = (flavor.prefix if flavor.prefix_on_latest else "") + "latest" + (flavor.suffix if flavor.suffix_on_latest else "")
        name = sanitize_tag(name)
        _check_image_tag(name, "flavor prefix/suffix with onlatest=true")
        tags.append(name)
    return TagResult(acc.main, tuple(dict.fromkeys(tags)), latest)


def _latest(flavor: Flavor, auto: bool) -> bool:
    return auto if flavor.latest == "auto" else flavor.latest == "true"


def _evaluate_line(spec: TagSpec, ctx: GitContext, ev: _Evaluator, acc: _Accumulator) -> None:
    flavor = ev.flavor
    if spec.type in (TagType.SEMVER, TagType.PEP440):
        _version_line(spec, ctx, ev, acc)
    elif spec.type is TagType.MATCH:
        _match_line(spec, ctx, ev, acc)
    elif spec.type is TagType.SHA:
        if ctx.sha:
            acc.add(ev.affix(ctx.sha if spec.attrs["format"] == "long" else ctx.sha[:7], spec), _latest(flavor, False), spec)
    elif spec.type is TagType.RAW:
        acc.add(ev.affix(ev.expand(spec.attrs["value"], spec.line), spec), _latest(flavor, False), spec)
    elif spec.type is TagType.EDGE:
        if ctx.branch and ctx.branch == (spec.attrs["branch"] or ctx.default_branch):
            acc.add(ev.affix("edge", spec), _latest(flavor, False), spec)
    elif spec.type is TagType.REF:
        event = spec.attrs["event"]
        if event == "branch" and ctx.branch:
            acc.add(ev.affix(ctx.branch, spec), _latest(flavor, False), spec)
        elif event == "tag" and ctx.tag:
            auto = flavor.prerelease_latest or not is_prerelease(ctx.tag)
            acc.add(ev.affix(ctx.tag, spec), _latest(flavor, auto), spec)
        elif event == "pr" and ctx.pull_request:
            acc.add(ev.affix(ctx.pull_request, spec), _latest(flavor, False), spec)
    elif spec.type is TagType.SCHEDULE and "schedule" in ctx.event:
        value = ev.render(spec.attrs["pattern"], ev.date_helpers, spec.line)
        acc.add(ev.affix(value, spec), _latest(flavor, False), spec)


def _input_version(spec: TagSpec, ctx: GitContext, ev: _Evaluator) -> str | None:
    """The text a semver/pep440/match line reads: ``value=`` (expanded) or the Git tag; ``None`` when neither."""
    if spec.attrs["value"]:
        return ev.expand(spec.attrs["value"], spec.line)
    return ctx.tag if ctx.ref.startswith("refs/tags/") else None


def _version_line(spec: TagSpec, ctx: GitContext, ev: _Evaluator, acc: _Accumulator) -> None:
    raw = _input_version(spec, ctx, ev)
    if raw is None:
        return
    if spec.attrs["match"]:
        found = compile_js(spec.attrs["match"], line=spec.line, literal=False).match(raw)
        if found is not None:
            if len(found) < 2 or found[1] is None:
                problem = f"match={spec.attrs['match']} has no first group that matched {raw!r}"
                raise _bad_line(spec.line, problem, "Capture the version in a group: match=v(\\d.\\d.\\d)$.")
            raw = found[1]
    raw = raw.replace("/", "-")
    parsed = semver_fields(raw) if spec.type is TagType.SEMVER else pep440_fields(raw)
    if parsed is None:
        return
    pattern = spec.attrs["pattern"]
    if parsed.is_prerelease:
        # a pre-release only ever gets its full version (or {{raw}} when that is the whole pattern)
        value = raw if template.is_only(pattern, "raw") else parsed.fields()["version"]
        acc.add(ev.affix(value, spec), _latest(ev.flavor, False), spec)
        return
    helpers = {name: _constant(text) for name, text in parsed.fields().items()}
    acc.add(ev.affix(ev.render(pattern, helpers, spec.line), spec), _latest(ev.flavor, True), spec)


def _match_line(spec: TagSpec, ctx: GitContext, ev: _Evaluator, acc: _Accumulator) -> None:
    raw = _input_version(spec, ctx, ev)
    if raw is None:
        return
    found = compile_js(spec.attrs["pattern"], line=spec.line).match(raw)
    group = spec.attrs["group"]
    if found is None or str(int(group)) != group or int(group) >= len(found):
        return
    value = found[int(group)]
    if value is None:
        return
    auto = ev.flavor.prerelease_latest or not is_prerelease(raw)
    acc.add(ev.affix(value, spec), _latest(ev.flavor, auto), spec)


def tags_for(
    *,
    ref: str = "",
    sha: str = "",
    event: str = "push",
    default_branch: str = "main",
    base_ref: str = "",
    specs: list[str] | None = None,
    flavor: list[str] | None = None,
    source_date_epoch: int | None = None,
    commit_epoch: int | None = None,
) -> TagResult:
    """The ``tags`` command and Dagger function: raw string inputs in, computed tags out."""
    ctx = GitContext(
        ref=ref,
        sha=sha,
        event=event,
        default_branch=default_branch,
        base_ref=base_ref,
        commit_epoch=commit_epoch,
        source_date_epoch=source_date_epoch,
    )
    parsed = parse_tag_specs(specs) if specs else None
    return compute_tags(ctx, parsed, parse_flavor(flavor) if flavor else None)
