"""The Dagger module's type definitions, built offline by the Python SDK's own registration code.

`Module._typedefs()` turns every object, function, argument and enum into the API's type
definitions with the SDK's converter (unsupported annotations raise there), and only its last
step, ``Module.id()``, needs an engine. This test stops at that step and reads the definitions
it built. It is not the registration against a real engine that issue 7 asks for: that needs
an engine, which cannot be built on our machines (see README, Contributing).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

FUNCTIONS = {
    "with_registry_auth": ["address", "username", "secret"],
    "version": [],
    "cleanup": [
        "image",
        "repository",
        "keep_untagged",
        "keep_prereleases",
        "older_than",
        "protect",
        "protect_regex",
        "no_default_protection",
        "only_untagged",
        "backend",
        "api_url",
        "apply",
        "format",
    ],
    "publish": [
        "tag",
        "source",
        "from",
        "image",
        "target",
        "platform",
        "registry",
        "dockerfile",
        "build_target",
        "build_arg",
        "build_secret",
        "sha",
        "event",
        "spec",
        "flavor",
        "source_date_epoch",
        "allow_backwards",
        "allow_overwrite",
        "allow_floating_tags",
        "registry_timeout",
        "sign",
        "key",
        "cosign_key",
        "cosign_password",
        "oidc_token",
        "oidc_request_url",
        "oidc_request_token",
        "fulcio_url",
        "rekor_url",
        "timestamp_url",
        "sigstore_trusted_root",
        "sigstore_bundle",
        "scan_fail_on",
        "trivyignore",
        "sbom",
        "provenance",
        "tool_images",
        "smoke_port",
        "smoke_path",
        "smoke_cmd",
        "smoke_timeout",
        "smoke_compose",
        "smoke_service",
        "smoke_platforms",
        "no_sbom",
        "no_provenance",
        "no_scan",
        "keep_outputs",
    ],
    "build": ["source", "platform", "dockerfile", "build_target", "build_arg", "build_secret", "sha", "source_date_epoch", "runner"],
    "rebuild_check": [
        "tag",
        "source",
        "image",
        "against",
        "platform",
        "registry",
        "dockerfile",
        "build_target",
        "build_arg",
        "build_secret",
        "sha",
        "source_date_epoch",
        "format",
    ],
    "tags": ["source", "ref", "sha", "event", "default_branch", "spec", "flavor", "base_ref", "source_date_epoch", "format"],
    "plan": [
        "tag",
        "source",
        "image",
        "target",
        "platform",
        "sha",
        "event",
        "spec",
        "flavor",
        "sign",
        "sbom",
        "provenance",
        "scan_fail_on",
        "no_sbom",
        "no_provenance",
        "no_scan",
        "allow_floating_tags",
        "source_date_epoch",
        "dockerfile",
        "format",
    ],
    "verify": [
        "image",
        "ref",
        "key",
        "certificate_identity",
        "certificate_identity_regexp",
        "certificate_oidc_issuer",
        "certificate_oidc_issuer_regexp",
        "rekor_url",
        "sigstore_trusted_root",
        "attestation",
        "scan_fail_on",
        "trivyignore",
        "registry",
        "tool_images",
        "format",
    ],
    "check_report": ["report"],
    "sync_readme": ["readme", "image", "repository", "short_description", "api_url"],
}


@dataclass
class Node:
    name: str
    args: dict[str, Any]
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def tree(obj: Any) -> list[Node]:
    nodes = []
    for selection in obj._ctx.selections:
        args = dict(selection.args or {})
        node = Node(selection.name, {k: v for k, v in args.items() if not hasattr(v, "_ctx")})
        for value in args.values():
            if hasattr(value, "_ctx"):
                node.children += tree(value)
        nodes.append(node)
    return nodes


@pytest.fixture(scope="module")
def definitions() -> list[Node]:
    import dagger.client.gen as gen
    from dagger.mod import default_module

    import shipyard.main  # noqa: F401  (registers the objects)

    async def stop_before_the_engine(self: Any) -> Any:
        return self

    original = gen.Module.id
    gen.Module.id = stop_before_the_engine  # type: ignore[method-assign]
    try:
        module = default_module()
        module._main_name = "Shipyard"  # what the runtime derives from the module name "shipyard"
        module._main = module.get_object("Shipyard")
        result = anyio.run(module._typedefs)
    finally:
        gen.Module.id = original  # type: ignore[method-assign]
    return tree(result)


def functions(nodes: list[Node]) -> dict[str, Node]:
    out = {}
    for node in nodes:
        for n in node.walk():
            if n.name == "withFunction":
                fn = next(c for c in n.walk() if c.name == "function")
                out[fn.args["name"]] = n
    return out


def test_every_function_and_argument_is_accepted_with_docs(definitions: list[Node]) -> None:
    found = functions(definitions)
    assert set(found) == set(FUNCTIONS)
    for name, expected_args in FUNCTIONS.items():
        nodes = list(found[name].walk())
        assert any(n.name == "withDescription" and n.args["description"] for n in nodes), f"{name} has no description"
        args = [n for n in nodes if n.name == "withArg"]
        assert [a.args["name"] for a in args] == expected_args
        assert all(a.args.get("description") for a in args), f"an argument of {name} has no Doc()"


def test_closed_choices_are_documented_enums(definitions: list[Node]) -> None:
    enums = {n.args["name"]: n for node in definitions for n in node.walk() if n.name == "withEnum" and n.args.get("description")}
    assert {"SigningMode", "SbomFormat", "BackendKind", "OutputFormat"} <= set(enums)


def test_credentials_are_never_exposed_as_fields(definitions: list[Node]) -> None:
    fields = {n.args["name"] for node in definitions for n in node.walk() if n.name == "withField"}
    assert "secret" not in fields and "auths" not in fields
    assert {"address", "username"} <= fields


def test_module_description_is_for_users(definitions: list[Node]) -> None:
    descriptions = [n.args["description"] for n in definitions if n.name == "withDescription"]
    assert descriptions and descriptions[0].startswith("Shipyard releases container images")
    assert "lazily" not in descriptions[0]
