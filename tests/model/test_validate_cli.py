"""`scorestream validate`: one line per good model, every problem, exit code."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from stream.cli import validate_cmd
from tests.model.helpers import base_model, change, write

REPO = Path(__file__).resolve().parents[2]


def run(*paths: str | Path) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="scorestream")
    validate_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", *map(str, paths)])
    out, err = io.StringIO(), io.StringIO()
    code = validate_cmd.run(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_templates_folder_is_ok() -> None:
    code, out, err = run(REPO / "models")

    assert code == 0
    assert err == ""
    assert f"ok: {REPO / 'models' / 'upsell.yaml'} (upsell v1, active)" in out
    assert len(out.splitlines()) == 4


def test_bad_file_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", base_model())
    data = base_model()
    change(data, "id", "other")
    change(data, "status", "live")
    change(data, "fit[0].weight", 10)
    bad = write(tmp_path, "bad.json", data)

    code, out, err = run(good, bad)

    assert code == 1
    assert out == f"ok: {good} (demo v2, active)\n"
    assert f"error: {bad}: status: " in err
    assert f"error: {bad}: fit: " in err
    assert err.strip().endswith("2 problems found")


def test_register_sets_the_handler() -> None:
    parser = argparse.ArgumentParser()
    validate_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", "x.yaml"])

    assert args.handler is validate_cmd.run
    assert args.models == ["x.yaml"]


def run_with_url_query(path: Path, *options: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="scorestream")
    validate_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", str(path), *options])
    out, err = io.StringIO(), io.StringIO()
    code = validate_cmd.run(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_url_rules_on_the_query_warn_when_queries_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = base_model()
    change(data, "activity[1].any[0][0].values", ["pricing?plan="])
    path = write(tmp_path, "utm.yaml", data)
    monkeypatch.delenv("SCORESTREAM_URL_QUERY", raising=False)

    assert run_with_url_query(path) == (0, f"ok: {path} (demo v2, active)\n", "")
    code, _, err = run_with_url_query(path, "--url-query", "drop")
    monkeypatch.setenv("SCORESTREAM_URL_QUERY", "hash")
    from_env = run_with_url_query(path)[2]

    assert code == 0
    assert err == (
        f"warning: {path}: activity[1] 'Pricing' any[0][0] (url contains "
        "['pricing?plan=']) looks at the query or fragment, which url_query=drop "
        "has removed before rules run: it will not match as written\n"
    )
    assert "url_query=hash has hashed" in from_env
