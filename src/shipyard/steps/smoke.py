"""The smoke test: the release's image for the engine's native platform runs as a service, and a
probe container in the engine asks it for ``GET :PORT/PATH`` until it answers 2xx or time runs out.

The image is the platform's container as built in this release (the same build that was
assembled, pushed and scanned). The probe reaches it by hostname, so client and module mode
work alike; it is Python's standard library in the ``probe`` tool image (no curl needed).
"""

from __future__ import annotations

from collections.abc import Mapping

import dagger
from dagger import dag

from shipyard.plan.config import SmokeTest
from shipyard.plan.errors import GateFailed
from shipyard.plan.platforms import Platform, parse_platforms
from shipyard.plan.smoke import SmokeResult, smoke_result
from shipyard.steps.tools import RegistryAccess, tool_container

APP_HOST = "app"

# Prints one JSON line: the last HTTP status (or connection error) and the number of attempts.
PROBE = r"""
import json, sys, time, urllib.error, urllib.request
host, port, path, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + timeout
attempts, status, error = 0, None, "no attempt"
while True:
    attempts += 1
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=min(10.0, timeout)) as response:
            status, error = response.status, None
    except urllib.error.HTTPError as exc:
        status, error = exc.code, None
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        status, error = None, f"{type(reason).__name__}: {reason}"
    if (status is not None and 200 <= status < 300) or time.monotonic() >= deadline:
        break
    time.sleep(1)
print(json.dumps({"status": status, "error": error, "attempts": attempts}))
"""


class SmokeFailed(GateFailed):
    """The image did not answer its health check; no tag was moved."""


async def native_platform(platforms: Mapping[Platform, object]) -> Platform:
    """The release platform the engine runs natively (the smoke test runs no emulated image)."""
    engine = str(await dag.default_platform())
    (native,) = parse_platforms([engine])
    if native not in platforms:
        built = ", ".join(str(p) for p in platforms)
        raise SmokeFailed(
            f"smoke test: the engine runs {native}, which this release does not build ({built});"
            f" add --platform {native} or leave out --smoke-port; no tag was moved on any registry"
        )
    return native


async def smoke_test(
    containers: Mapping[Platform, dagger.Container], test: SmokeTest, probe_image: str, access: RegistryAccess
) -> SmokeResult:
    """Run the native image as a service and probe it; the result says whether it answered 2xx."""
    platform = await native_platform(containers)
    app = containers[platform].with_exposed_port(test.port, experimental_skip_healthcheck=True)
    service = app.as_service(args=list(test.cmd), use_entrypoint=True) if test.cmd else app.as_service(use_entrypoint=True)
    probe = tool_container(probe_image, access).with_service_binding(APP_HOST, service)
    args = ["python3", "-c", PROBE, APP_HOST, str(test.port), test.path, str(test.timeout)]
    try:
        output = await probe.with_exec(args, use_entrypoint=False).stdout()
    except dagger.ExecError as exc:
        output = exc.stdout or exc.stderr
    except dagger.QueryError as exc:  # the service could not be started at all
        error = f"the image could not be started: {' '.join(str(exc).split())[:300]}"
        return SmokeResult(str(platform), test.port, test.path, None, error, 0, test.timeout)
    return smoke_result(str(platform), test, output)
