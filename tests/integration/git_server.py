"""Shipyard served at a tag the way users get it: a bare Git repository on a loopback Git server.

Three servers, the forms a ``dagger call -m`` reference can name: smart HTTP (``git
http-backend`` behind a small WSGI adapter), dumb HTTP (static files after ``git
update-server-info``) and the Git protocol (``git daemon``). Each serves the same bare clone.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _QuietWSGI(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(WSGIServer):
    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


class _QuietStatic(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _http_backend(root: Path) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that runs ``git http-backend`` (the CGI Git ships) for each request."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi = {
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "HTTP_GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
            "PATH": os.environ["PATH"],
        }
        proc = subprocess.run(["git", "http-backend"], input=body, env=cgi, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode(errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        start_response(status, headers)
        return [payload]

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loopback_address() -> str:
    """A loopback address of its own (127.0.0.0/8 is all loopback), where port 80 is free.

    Dagger v0.19.10 drops the port of an HTTP module reference (core/modulerefs.go keeps the
    endpoint's host and path only: ``http://127.0.0.1:8080/x.git`` is fetched from port 80), so
    each HTTP server listens on port 80 of an address no other run uses."""
    for _ in range(50):
        address = f"127.{random.randint(28, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        with socket.socket() as s:
            try:
                s.bind((address, 80))
            except OSError:
                continue
        return address
    raise RuntimeError("no loopback address with port 80 free")


@dataclass(frozen=True)
class ServedRepository:
    """Where the bare clone is served: ``{smart_http}/shipyard.git`` and so on."""

    bare: Path
    smart_http: str  # http://127.x.y.z (port 80)
    dumb_http: str
    git_daemon: str  # git://127.0.0.1:PORT


@contextlib.contextmanager
def serve(checkout: Path, tag: str, root: Path) -> Iterator[ServedRepository]:
    """Serve a bare clone of ``checkout``'s HEAD, tagged ``tag``, as ``<server>/shipyard.git``."""
    bare = root / "shipyard.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(checkout), str(bare)], check=True)
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "-C", str(bare), "tag", "-f", tag, head], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)

    smart_address, dumb_address = _loopback_address(), _loopback_address()
    smart = make_server(smart_address, 80, _http_backend(root), server_class=_ThreadingWSGIServer, handler_class=_QuietWSGI)
    dumb = ThreadingHTTPServer((dumb_address, 80), partial(_QuietStatic, directory=str(root)))
    daemon_port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={root}", "--listen=127.0.0.1", f"--port={daemon_port}", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (smart, dumb)]
    for t in threads:
        t.start()
    try:
        yield ServedRepository(
            bare=bare,
            smart_http=f"http://{smart_address}",
            dumb_http=f"http://{dumb_address}",
            git_daemon=f"git://127.0.0.1:{daemon_port}",
        )
    finally:
        smart.shutdown()
        dumb.shutdown()
        daemon.terminate()
        daemon.wait(timeout=10)
