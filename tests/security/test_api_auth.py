"""The HTTP API's bearer token: required, compared safely, never optional
on a non-loopback address."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from stream.app import auth
from stream.errors import ScoringError

TOKEN = "s3cret-token-0123456789abcdef"


async def _serve_and_ask(paths: list[tuple[str, str | None]]) -> list[int]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[auth.bearer_auth(TOKEN)])
    app.add_routes([web.get(p, ok) for p in ("/", "/health", "/models", "/metrics")])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    statuses = []
    try:
        async with ClientSession() as session:
            for path, header in paths:
                headers = {"Authorization": header} if header else {}
                async with session.get(
                    f"http://127.0.0.1:{port}{path}", headers=headers
                ) as answer:
                    statuses.append(answer.status)
                    if answer.status == 401:
                        assert await answer.json() == {
                            "error": {"status": 401, "message": "unauthorized"}
                        }
    finally:
        await runner.cleanup()
    return statuses


def test_token_required_except_liveness_and_page() -> None:
    statuses = asyncio.run(
        _serve_and_ask(
            [
                ("/health", None),
                ("/", None),
                ("/models", None),
                ("/models", "Bearer wrong-token-0123456789"),
                ("/models", TOKEN),  # no "Bearer " prefix
                ("/models", f"Bearer {TOKEN}"),
                ("/metrics", f"Bearer {TOKEN}"),
            ]
        )
    )
    assert statuses == [200, 200, 401, 401, 401, 200, 200]


def test_non_loopback_bind_needs_a_token() -> None:
    with pytest.raises(
        ScoringError, match=r"refusing to serve the HTTP API on 0\.0\.0\.0"
    ):
        auth.check_bind("0.0.0.0", None)
    auth.check_bind("0.0.0.0", TOKEN)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        auth.check_bind(host, None)


def test_token_from_env_or_file(tmp_path: Path) -> None:
    assert auth.load_token({}) is None
    assert auth.load_token({auth.TOKEN_ENV: f" {TOKEN} "}) == TOKEN
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert auth.load_token({auth.TOKEN_FILE_ENV: str(path)}) == TOKEN


def test_bad_tokens_are_refused_without_echoing_them(tmp_path: Path) -> None:
    with pytest.raises(ScoringError) as short:
        auth.load_token({auth.TOKEN_ENV: "abc123"})
    assert "abc123" not in str(short.value) and "at least 16" in str(short.value)
    with pytest.raises(ScoringError, match="cannot read the API token"):
        auth.load_token({auth.TOKEN_FILE_ENV: str(tmp_path / "missing")})
