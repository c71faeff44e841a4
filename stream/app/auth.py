"""Bearer-token protection of the worker's HTTP API.

The token comes from SCORESTREAM_API_TOKEN or a file named by
SCORESTREAM_API_TOKEN_FILE. Every route needs it except liveness and the
page's static HTML (which holds no data; its scripts send the token). A
worker refuses to listen on a non-loopback address without a token, so a
typo in the bind address cannot publish contact data to the network.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from stream.errors import ScoringError

TOKEN_ENV = "SCORESTREAM_API_TOKEN"
TOKEN_FILE_ENV = "SCORESTREAM_API_TOKEN_FILE"
OPEN_PATHS = frozenset({"/health", "/"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def load_token(env: Mapping[str, str] | None = None) -> str | None:
    """The API token, or None when none is configured."""
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    path = env.get(TOKEN_FILE_ENV, "").strip()
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ScoringError(
                f"{TOKEN_FILE_ENV}={path}: cannot read the API token "
                f"({exc.strerror}); fix the path or its permissions"
            ) from None
        if not token:
            raise ScoringError(f"{TOKEN_FILE_ENV}={path}: the file is empty")
    if token and len(token) < 16:
        raise ScoringError(
            f"the API token is {len(token)} characters long; use at least 16 "
            "random characters (e.g. `openssl rand -hex 24`)"
        )
    return token or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind address without a token."""
    if token is None and not is_loopback(host):
        raise ScoringError(
            f"refusing to serve the HTTP API on {host} without a token: anyone "
            f"who can reach it could read contact data. Set {TOKEN_ENV} (or "
            f"{TOKEN_FILE_ENV}), or bind 127.0.0.1"
        )


def bearer_auth(token: str) -> Any:
    """aiohttp middleware: 401, with no detail, unless the token matches."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            given = request.headers.get("Authorization", "").encode()
            # Constant time, so the comparison leaks nothing about the token.
            if not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": {"status": 401, "message": "unauthorized"}},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await handler(request)

    return middleware


def forward_headers(request: web.Request) -> dict[str, str]:
    """Headers a worker passes on when it asks another worker."""
    auth = request.headers.get("Authorization")
    return {"Authorization": auth} if auth else {}
