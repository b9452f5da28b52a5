"""One tool container per tool: toolrun's plan as Shipyard writes it, and its results as
Shipyard reads them (a missing or garbled result is an error, never a silent pass)."""

from __future__ import annotations

import json

import pytest

from shipyard.supply_chain.toolrun import ToolCommand, ToolResult, ToolrunOutputError, parse_results, toolrun_plan

CHAINS = [
    [ToolCommand("sign", ("cosign", "sign", "r/a@sha256:1")), ToolCommand("attest-0", ("cosign", "attest", "r/a@sha256:1"))],
    [ToolCommand("linux/amd64", ("trivy", "image", "--input", "/oci/linux-amd64"), stdout="/out/linux-amd64.json")],
]


def _stdout(*rows: tuple[str, int, str]) -> str:
    return "some tool noise\n" + json.dumps({"results": [{"name": n, "exit": e, "seconds": 0.5, "stderr": err} for n, e, err in rows]})


def test_the_plan_keeps_chains_apart_and_commands_in_order() -> None:
    plan = json.loads(toolrun_plan(CHAINS))
    assert [[c["name"] for c in chain] for chain in plan["chains"]] == [["sign", "attest-0"], ["linux/amd64"]]
    assert plan["parallel"] == 4 and json.loads(toolrun_plan(CHAINS, 2))["parallel"] == 2
    assert plan["chains"][1][0] == {"name": "linux/amd64", "argv": ["trivy", "image", "--input", "/oci/linux-amd64"],
                                    "stdout": "/out/linux-amd64.json"}  # fmt: skip


def test_results_are_read_by_name_with_the_reason_of_a_failure() -> None:
    results = parse_results(_stdout(("sign", 1, "Error: signing\nerror: wrong password\n"), ("attest-0", -1, "not run"),
                                    ("linux/amd64", 0, "")), CHAINS)  # fmt: skip
    assert results["linux/amd64"].ok and not results["sign"].ok
    assert results["sign"].reason("cosign") == "error: wrong password"
    assert ToolResult("x", 3, 0.1, "").reason("syft") == "syft exited with 3"


def test_each_command_reports_the_cpu_it_used() -> None:
    stdout = json.dumps({"results": [{"name": "sign", "exit": 0, "seconds": 0.9, "cpu": 0.31, "stderr": ""},
                                     {"name": "attest-0", "exit": 0, "seconds": 0.5, "stderr": ""},
                                     {"name": "linux/amd64", "exit": 0, "seconds": 1.2, "cpu": 1.5, "stderr": ""}]})  # fmt: skip
    results = parse_results(stdout, CHAINS)
    assert (results["sign"].cpu, results["attest-0"].cpu, results["linux/amd64"].cpu) == (0.31, 0.0, 1.5)


@pytest.mark.parametrize("stdout", ["", "not json", json.dumps({"results": [{"name": "sign"}]}), json.dumps([1, 2])])
def test_garbled_output_is_an_error(stdout: str) -> None:
    with pytest.raises(ToolrunOutputError):
        parse_results(stdout, CHAINS)


def test_a_command_without_a_result_is_an_error_naming_it() -> None:
    with pytest.raises(ToolrunOutputError, match="attest-0"):
        parse_results(_stdout(("sign", 0, ""), ("linux/amd64", 0, "")), CHAINS)
