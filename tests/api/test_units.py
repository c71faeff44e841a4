"""Pieces of the API and the model lifecycle that need no broker."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from stream.app.gradecount import matrix
from stream.app.lifecycle import same_model
from stream.app.modeltopic import decode, encode
from stream.model.dump import model_document
from stream.model.load import load_model_dir, parse_model
from stream.model.schema import schema_problems
from tests.api.helpers import check, openapi
from tests.app.helpers import REPO


def test_model_documents_round_trip_and_travel_as_messages() -> None:
    for model in load_model_dir(REPO / "models"):
        doc = model_document(model)
        assert schema_problems(doc, model.id) == []
        assert same_model(parse_model(doc, "doc"), model)
        key, value = encode(model)
        assert key == model.id.encode()
        back = decode(key, value, "topic[0]@0")
        assert back is not None and same_model(back, model)
        assert decode(key, None, "topic[0]@1") is None
        assert not same_model(replace(model, version=model.version + 1), model)


def test_matrix_rows_are_fit_letters_and_columns_activity_digits() -> None:
    body = matrix(Counter({"A1": 2, "A4": 1, "D1": 5, "B2": 3}))
    check(
        "GradeMatrix",
        {
            "model_id": "m",
            "scope": "local",
            "partitions": [0],
            "complete": True,
            "workers": [],
            "matrix": body,
        },
    )
    assert body["counts"][0] == [2, 0, 0, 1]
    assert body["counts"][3] == [5, 0, 0, 0]
    assert body["row_totals"] == {"A": 3, "B": 3, "C": 0, "D": 5}
    assert body["column_totals"] == {"1": 7, "2": 3, "3": 0, "4": 1}
    assert body["total"] == 11


def test_openapi_file_is_3_1_and_every_reference_resolves() -> None:
    doc = openapi()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas
