"""Sending a request: over HTTP(S) with the standard library, or printed to stdout."""

from __future__ import annotations

import http.client
import sys
from typing import IO, Protocol
from urllib.parse import urlsplit

from stream import jsonutil
from stream.sink.targets import Request, Response


class Transport(Protocol):
    def send(self, request: Request, timeout: float) -> Response:
        """The answer; OSError (TimeoutError included) when none came."""
        ...


class HttpTransport:
    """One connection per request: at CRM rates the handshake is cheap, and a
    fresh connection never trips over one the server closed while idle."""

    def send(self, request: Request, timeout: float) -> Response:
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {request.url!r}")
        conn_type = (
            http.client.HTTPSConnection
            if parts.scheme == "https"
            else http.client.HTTPConnection
        )
        conn = conn_type(parts.hostname, parts.port, timeout=timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(request.method, path, request.body, dict(request.headers))
            answer = conn.getresponse()
            body = answer.read()
            headers = {k.lower(): v for k, v in answer.getheaders()}
            return Response(answer.status, body, headers)
        except http.client.HTTPException as exc:
            # A malformed or cut answer is a network failure for our purposes.
            raise ConnectionError(f"bad HTTP answer: {type(exc).__name__}") from None
        finally:
            conn.close()


class PrintTransport:
    """Prints what would be sent and answers as a CRM that accepted it all.

    Headers are never printed: they carry the token.
    """

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out

    def send(self, request: Request, timeout: float) -> Response:
        out = self.out or sys.stdout
        body = jsonutil.loads(request.body)
        if request.method == "PRINT":
            for item in body:
                out.write(jsonutil.dumps(item).decode() + "\n")
        else:
            line = {"method": request.method, "url": request.url, "body": body}
            out.write(jsonutil.dumps(line).decode() + "\n")
        out.flush()
        return Response(200, b"{}")
