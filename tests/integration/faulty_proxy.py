"""A fault-injecting loopback HTTP proxy to put in front of a real OpenAI-compatible server.

Each request takes the next fault from a schedule (cycled) and the proxy counts what it injected:

- "pass": forward unchanged;
- "delay": wait `delay_s`, then forward (a client timeout shorter than that sees a timeout);
- "error": answer 503 without forwarding;
- "garbage": forward, then replace the body with bytes that are not JSON (status 200);
- "garbage_text": forward, then replace the reply's text with random junk (valid JSON);
- "drop": read the request, then close the connection without answering;
- "rewrite": forward, then replace the reply's text with `rewrite(request_json)`: used to play a
  judge that answers in a given way (e.g. one that falls for prompt injections) while the request
  still travels the whole real path.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

FAULTS = ("pass", "delay", "error", "garbage", "garbage_text", "drop", "rewrite")


class FaultyProxy:
    """`with FaultyProxy(upstream_url, schedule=[...]) as proxy:` then point clients at `proxy.url`."""

    def __init__(
        self,
        upstream: str,
        schedule: list[str] | tuple[str, ...] = ("pass",),
        delay_s: float = 2.0,
        rewrite: Callable[[dict], str] | None = None,
        seed: int = 0,
    ):
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.upstream_prefix = parts.path.rstrip("/")
        self.delay_s = delay_s
        self.rewrite = rewrite
        self.injected: Counter = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.set_schedule(schedule)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                proxy._handle(self, "GET")

            def do_POST(self):
                proxy._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.upstream_prefix}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def set_schedule(self, schedule: list[str] | tuple[str, ...]) -> None:
        """Faults to apply to the next requests, in order, repeating."""
        unknown = [f for f in schedule if f not in FAULTS]
        if unknown or not schedule:
            raise ValueError(f"unknown faults {unknown}; choose from {FAULTS}")
        with self._lock:
            self._schedule = list(schedule)
            self._position = 0

    def _next_fault(self) -> str:
        with self._lock:
            fault = self._schedule[self._position % len(self._schedule)]
            self._position += 1
            self.requests += 1
            self.injected[fault] += 1
            return fault

    def __enter__(self) -> "FaultyProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        # Health checks and model listing are not judged requests: always forwarded unchanged.
        fault = self._next_fault() if method == "POST" else "pass"
        if fault == "drop":
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "error":
            self._reply(handler, 503, b'{"error": {"message": "injected 503"}}')
            return
        if fault == "delay":
            time.sleep(self.delay_s)
        try:
            status, payload = self._forward(method, handler.path, body, handler.headers.get("Content-Type"))
        except OSError as err:  # upstream down: behave like a gateway would
            self._reply(handler, 502, json.dumps({"error": {"message": f"upstream unreachable: {err}"}}).encode())
            return
        if status == 200 and fault == "garbage":
            payload = bytes(self._rng.randrange(256) for _ in range(64))
        elif status == 200 and fault in ("garbage_text", "rewrite"):
            payload = self._replace_text(payload, body, fault)
        self._reply(handler, status, payload)

    def _replace_text(self, payload: bytes, request_body: bytes, fault: str) -> bytes:
        data = json.loads(payload)
        if fault == "garbage_text":
            text = "".join(self._rng.choice("xq#@!~ \n") for _ in range(40))
        else:
            if self.rewrite is None:
                raise RuntimeError("the 'rewrite' fault needs a rewrite function")
            text = self.rewrite(json.loads(request_body))
        data["choices"][0]["message"]["content"] = text
        return json.dumps(data).encode()

    def _forward(self, method: str, path: str, body: bytes, content_type: str | None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            headers = {"Content-Type": content_type or "application/json", "Connection": "close"}
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(payload)
        handler.close_connection = True
