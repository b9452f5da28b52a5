"""A fault-injecting HTTP proxy in front of a stack registry, on loopback, for failure tests.

``failure_rate`` answers that share of requests with 503 (seeded, so runs repeat);
``die_after`` drops every connection after that many requests until ``revive()``.
``fault(method, path, action)`` adds a rule for the requests it matches (a regular expression
on the path), in the order added, each for ``times`` requests (``None``: all of them):
``status`` answers that HTTP status without forwarding; ``timeout`` waits ``seconds`` and closes
without an answer; ``late`` forwards (the registry acts on it) then waits ``seconds`` and closes
without an answer (a write whose outcome the client cannot know); ``drop`` closes the connection
at once; ``hold`` waits until the test calls ``rule.release()``, then forwards (``rule.arrived``
says one is waiting): the test decides the order in which two releases' writes land.
Everything it proxies goes to the one registry it was given; it stops when the test ends.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    action: str  # status | timeout | late | drop | hold
    times: int | None = 1
    status: int = 500
    seconds: float = 0.0
    hits: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    paths: list[str] = field(default_factory=list)  # the requests it matched
    abandoned: bool = False  # the proxy stopped: a request still held is dropped, never forwarded

    def release(self) -> None:
        self.released.set()

    def matches(self, method: str, path: str) -> bool:
        return (self.times is None or self.hits < self.times) and method == self.method and bool(self.path.search(path))


class FaultyProxy:
    def __init__(self, upstream: str, *, failure_rate: float = 0.0, die_after: int | None = None, seed: int = 0) -> None:
        self.upstream = upstream
        self.failure_rate = failure_rate
        self.die_after = die_after
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.received = 0  # request body bytes forwarded to the registry
        self.dead = False
        self.rules: list[Rule] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def revive(self) -> None:
        with self.lock:
            self.dead = False
            self.die_after = None

    def fault(self, method: str, path: str, action: str, *, times: int | None = 1, status: int = 500, seconds: float = 0.0) -> Rule:
        rule = Rule(method, re.compile(path), action, times=times, status=status, seconds=seconds)
        with self.lock:
            self.rules.append(rule)
        return rule

    def _rule(self, method: str, path: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    rule.paths.append(path)
                    return rule
        return None

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for rule in self.rules:
            rule.abandoned = not rule.released.is_set()
            rule.release()
        self.server.shutdown()
        self.server.server_close()

    def _decide(self) -> str:
        with self.lock:
            self.requests += 1
            if self.die_after is not None and self.requests > self.die_after:
                self.dead = True
            if self.dead:
                self.failed += 1
                return "drop"
            if self.failure_rate and self.random.random() < self.failure_rate:
                self.failed += 1
                return "503"
            return "forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _any(self) -> None:
                try:
                    self._proxy()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout, an interrupt)
                    self.close_connection = True

            def _proxy(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy._rule(self.command, self.path)
                if rule is not None and rule.action == "hold":
                    rule.arrived.set()
                    rule.released.wait()
                    if rule.abandoned:
                        self.close_connection = True
                        self.connection.close()
                        return
                elif rule is not None and rule.action != "late":
                    self._fault(rule)
                    return
                decision = proxy._decide()
                if decision == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if decision == "503":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with proxy.lock:
                    proxy.received += len(body)
                conn = http.client.HTTPConnection(proxy.upstream, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                if rule is not None and rule.action == "late":  # the registry acted; the client never hears of it
                    conn.close()
                    time.sleep(rule.seconds)
                    self.close_connection = True
                    self.connection.close()
                    return
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def _fault(self, rule: Rule) -> None:
                if rule.action == "status":
                    self.send_response(rule.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if rule.action == "timeout":
                    time.sleep(rule.seconds)
                self.close_connection = True
                self.connection.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        return Handler
