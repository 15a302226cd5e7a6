"""What the fake provider APIs share: a real HTTP server on loopback in a thread, recorded calls, injected faults."""
from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]


@dataclasses.dataclass
class Call:
    """One request a fake received: path as routed, query and body as sent, headers with lower-case names."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclasses.dataclass
class Fault:
    """A misbehaviour for the next matching calls: "slow", "status", "malformed", "drop" (and what a fake adds)."""

    method: str
    path: str  # a regular expression matched against the whole routed path
    kind: str
    times: int = 1
    seconds: float = 0.0
    status: int = 500
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


class FakeServer:
    """The server part of a fake; subclasses answer calls (`handle`) and injected errors (`fault_answer`)."""

    name = "fake"
    malformed = b"{"  # the start of a JSON object, cut off

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget calls and faults (subclasses also forget their state)."""
        with self._lock:
            self.calls.clear()
            self.faults.clear()

    def fail(self, method: str, path: str, kind: str, *, times: int = 1, seconds: float = 0.0, status: int = 500, **details: Any) -> None:
        """Misbehave on the next matching call(s)."""
        with self._lock:
            self.faults.append(Fault(method, path, kind, times=times, seconds=seconds, status=status, details=details))

    def calls_to(self, method: str, path: str) -> list[Call]:
        """The recorded calls of one method whose routed path matches a regular expression."""
        return [c for c in self.calls if c.method == method and re.fullmatch(path, c.path)]

    def route(self, path: str) -> str:
        """The path calls are recorded, matched and handled by."""
        return path

    def handle(self, call: Call) -> Answer:
        raise NotImplementedError

    def fault_answer(self, fault: Fault) -> Answer:
        raise NotImplementedError

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and re.fullmatch(fault.path, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


def _handler_for(fake: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return None

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            parts = urlsplit(self.path)
            call = Call(self.command, fake.route(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()},
                        {k.lower(): v for k, v in self.headers.items()}, body)
            with fake._lock:
                fake.calls.append(call)
            fault = fake._take_fault(call.method, call.path)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.seconds)
            if fault is not None and fault.kind == "malformed":
                self._send(200, fake.malformed, {})
                return
            if fault is not None and fault.kind not in ("slow", "malformed"):
                status, payload, headers = fake.fault_answer(fault)
            else:
                with fake._lock:
                    status, payload, headers = fake.handle(call)
            self._send(status, json.dumps(payload).encode(), headers)

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (read timeout); nothing to answer

        do_GET = do_POST = do_DELETE = _serve

    return Handler
