"""The ``{{…}}`` expressions of metadata-action's tag lines, evaluated as its Handlebars templates are.

Supported: ``{{name}}``, ``{{name 'arg' key='value'}}`` (string, number and boolean arguments; an
unquoted word is an unset value), ``{{{name}}}`` and ``{{&name}}`` (no escaping), ``{{~name~}}``
(trim the blanks beside it), comments ``{{! … }}`` and ``{{!-- … --}}``, and ``\\{{`` for a literal
``{{``. Output of ``{{name}}`` is HTML-escaped exactly as Handlebars does (``=`` becomes
``&#x3D;``), which the tag sanitizer then turns into ``-``. Block helpers (``{{#if}}``) are not
supported: they are reported, never silently mis-evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Argument = str | int | float | bool | None
"""A helper argument: a literal, or ``None`` for an unquoted word (a path Handlebars would resolve to nothing)."""

Helper = Callable[[list[Argument], dict[str, Argument]], str]

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}
_ESCAPE = re.compile("[" + re.escape("".join(_ESCAPES)) + "]")
_TOKEN = re.compile(
    r"""\s*(?:(?P<key>[^\s'"=~}]+)\s*=\s*)?"""
    r"""(?:'(?P<sq>(?:\\.|[^'\\])*)'|"(?P<dq>(?:\\.|[^"\\])*)"|(?P<word>[^\s'"=~}]+))"""
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class TemplateError(ValueError):
    """The template is malformed or uses something this evaluator does not support."""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Mustache:
    name: str
    params: tuple[Argument, ...] = ()
    hash: dict[str, Argument] = field(default_factory=dict)
    escape: bool = True
    source: str = ""


Node = Text | Comment | Mustache


def escape_html(text: str) -> str:
    """Handlebars' escaping of ``{{…}}`` output."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], text)


def parse(template: str) -> list[Node]:
    """Split a template into text, comments and expressions; raises :class:`TemplateError`."""
    nodes: list[Node] = []
    text: list[str] = []
    strip_next = False
    pos = 0
    while True:
        start = template.find("{{", pos)
        chunk = template[pos:] if start < 0 else template[pos:start]
        if strip_next:
            chunk = chunk.lstrip()
            strip_next = False
        if start < 0:
            text.append(chunk)
            break
        if chunk.endswith("\\"):  # \{{ is a literal {{
            text.append(chunk[:-1] + "{{")
            pos = start + 2
            continue
        end, body, triple = _find_close(template, start)
        if body.startswith("~"):
            chunk = chunk.rstrip()
            body = body[1:]
        if body.endswith("~"):
            strip_next = True
            body = body[:-1]
        text.append(chunk)
        if "".join(text):
            nodes.append(Text("".join(text)))
        text = []
        nodes.append(_parse_expression(body, template[start:end], triple))
        pos = end
    if "".join(text):
        nodes.append(Text("".join(text)))
    return nodes


def _find_close(template: str, start: int) -> tuple[int, str, bool]:
    if template.startswith("{{!--", start):
        close = template.find("--}}", start + 5)
        if close < 0:
            raise TemplateError(f"unclosed comment in {template!r}")
        return close + 4, template[start + 2 : close + 2], False
    triple = template.startswith("{{{", start)
    closing = "}}}" if triple else "}}"
    close = template.find(closing, start + len(closing))
    if close < 0:
        raise TemplateError(f"unclosed {{{{ in {template!r}")
    return close + len(closing), template[start + len(closing) : close], triple


def _parse_expression(body: str, source: str, triple: bool) -> Node:
    stripped = body.strip()
    if stripped.startswith("!"):
        return Comment(stripped)
    escape = not triple
    if stripped.startswith("&"):
        escape = False
        stripped = stripped[1:].strip()
    if stripped[:1] in ("#", "/", "^", ">", "@") or stripped == "else" or stripped.startswith("else "):
        raise TemplateError(f"{source} is a block or partial expression, which Shipyard does not support")
    params: list[Argument] = []
    hash_args: dict[str, Argument] = {}
    name = ""
    pos = 0
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"cannot read {source}")
        pos = match.end()
        value = _argument(match)
        if match.group("key"):
            hash_args[match.group("key")] = value
        elif not name:
            if match.group("word") is None:
                raise TemplateError(f"{source} starts with a literal, not a name")
            name = _path_name(match.group("word"))
        elif hash_args:
            raise TemplateError(f"{source} has a positional argument after a key=value argument")
        else:
            params.append(value)
    if not name:
        raise TemplateError(f"{source} is empty")
    return Mustache(name, tuple(params), hash_args, escape, source)


def _path_name(word: str) -> str:
    for prefix in ("this.", "./"):
        word = word.removeprefix(prefix)
    return word[1:-1] if word.startswith("[") and word.endswith("]") else word


def _argument(match: re.Match[str]) -> Argument:
    for quoted in ("sq", "dq"):
        if match.group(quoted) is not None:
            return re.sub(r"\\(.)", r"\1", match.group(quoted))
    word = match.group("word")
    if _NUMBER.fullmatch(word):
        return float(word) if "." in word else int(word)
    return {"true": True, "false": False}.get(word)  # null, undefined and paths are unset


def names(template: str) -> list[str]:
    """The names a template uses, in order; ``[]`` when it is malformed (that is reported on evaluation)."""
    try:
        return [n.name for n in parse(template) if isinstance(n, Mustache)]
    except TemplateError:
        return []


def is_only(template: str, name: str) -> bool:
    """True when the template is exactly one ``{{name}}`` expression (metadata-action's raw-pattern test)."""
    try:
        nodes = parse(template)
    except TemplateError:
        return False
    return len(nodes) == 1 and isinstance(nodes[0], Mustache) and nodes[0].name == name


def render(template: str, helpers: Mapping[str, Helper]) -> str:
    """Evaluate a template; an unknown name raises :class:`TemplateError` naming it."""
    out: list[str] = []
    for node in parse(template):
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Mustache):
            helper = helpers.get(node.name)
            if helper is None:
                raise TemplateError(f"unknown expression {{{{{node.name}}}}}")
            value = helper(list(node.params), dict(node.hash))
            out.append(escape_html(value) if node.escape else value)
    return "".join(out)
