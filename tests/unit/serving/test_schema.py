"""Request validation from a model's input schema: accepted forms, refusals, the fast path."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton.serving._schema import RequestError, RequestSchema

NUMERIC = {"kind": "table", "columns": [{"name": c, "type": "numeric"} for c in ("a", "b", "c")]}
MIXED = {
    "kind": "table",
    "columns": [
        {"name": "age", "type": "numeric"},
        {"name": "color", "type": "categorical"},
        {"name": "member", "type": "boolean"},
        {"name": "note", "type": "text"},
        {"name": "seen", "type": "datetime"},
    ],
}


def refusal(schema: RequestSchema, payload: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        schema.rows(payload)
    return caught.value


def test_records_and_rows_give_rows_in_schema_order() -> None:
    schema = RequestSchema(NUMERIC)
    rows = schema.rows({"inputs": [{"c": 3, "a": 1.5, "b": None}, [1, 2.5, 3]]})
    assert rows == [[1.5, None, 3], [1, 2.5, 3]]


def test_mixed_columns_accept_their_types() -> None:
    schema = RequestSchema(MIXED)
    record = {"age": 30, "color": 2, "member": True, "note": None, "seen": "2026-01-01"}
    assert schema.rows({"inputs": [record]}) == [[30, "2", True, None, "2026-01-01"]]


@pytest.mark.parametrize(
    ("schema", "payload", "status", "field", "message"),
    [
        (NUMERIC, [1], 422, "inputs", 'a JSON object {"inputs": [...]}'),
        (NUMERIC, {"inputs": []}, 422, "inputs", "expected a non-empty list"),
        (NUMERIC, {"inputs": [{"a": 1, "b": 2}]}, 422, "c", "inputs[0]: missing field 'c'"),
        (NUMERIC, {"inputs": [{"a": 1, "b": 2, "c": 3, "d": 4}]}, 422, "d", "unknown field 'd'"),
        (NUMERIC, {"inputs": [{"a": 1, "b": 2, "d": 4}]}, 422, "c", "missing field 'c'"),
        (NUMERIC, {"inputs": [[1, 2]]}, 422, "inputs[0]", "expected a row of 3 values"),
        (NUMERIC, {"inputs": [[1, 2, 3], "x"]}, 422, "inputs[1]", "got str"),
        (NUMERIC, {"inputs": [[1, "2", 3]]}, 422, "inputs[0].b", "expected a number, got str '2'"),
        (NUMERIC, {"inputs": [[1, 2, True]]}, 422, "inputs[0].c", "expected a number, got bool"),
        (
            NUMERIC,
            {"inputs": [[1, float("inf"), 3]]},
            422,
            "inputs[0].b",
            "expected a finite number, got inf",
        ),
        (NUMERIC, {"inputs": [[1, 2, 3]] * 4}, 413, "inputs", "4 rows is more than the 3 allowed"),
        (MIXED, {"inputs": [[1, [], True, "", ""]]}, 422, "inputs[0].color", "expected a string"),
        (MIXED, {"inputs": [[1, "x", "yes", "", ""]]}, 422, "inputs[0].member", "true or false"),
    ],
)
def test_refusals_name_the_field(
    schema: dict[str, Any], payload: Any, status: int, field: str, message: str
) -> None:
    error = refusal(RequestSchema(schema, max_rows=3), payload)
    assert (error.status, error.field) == (status, field)
    assert message in error.message


def test_a_one_column_table() -> None:
    schema = RequestSchema({"kind": "table", "columns": [{"name": "x", "type": "numeric"}]})
    assert schema.rows({"inputs": [{"x": 1.0}, [2]]}) == [[1.0], [2]]
    assert refusal(schema, {"inputs": [{"y": 1.0}]}).field == "x"


def test_only_all_numeric_tables_take_the_fast_path() -> None:
    assert RequestSchema(MIXED)._pick is None
    assert RequestSchema({"kind": "texts", "column": "t"})._pick is None
    assert RequestSchema({"kind": "table", "columns": []})._pick is None


def test_an_int_too_large_for_a_float_is_left_to_the_model() -> None:
    assert RequestSchema(NUMERIC).rows({"inputs": [[10**400, 1, 2]]}) == [[10**400, 1, 2]]


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.none(),
    st.booleans(),
    st.text(max_size=3),
)
items = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), values, max_size=5),
    st.lists(values, max_size=4),
    values,
)


def outcome(check: Any, item: Any) -> Any:
    try:
        return ("ok", check(item, 0))
    except RequestError as exc:
        return ("refused", exc.status, exc.field, exc.message)


@settings(max_examples=200, deadline=None)
@given(items)
def test_the_fast_numeric_path_decides_as_the_exact_path(item: Any) -> None:
    schema = RequestSchema(NUMERIC)
    pick = schema._pick
    assert pick is not None  # the fast path is on for an all-numeric table

    def fast(item: Any, i: int) -> Any:
        return schema._numeric_row(item, i, pick)

    assert outcome(fast, item) == outcome(schema._row, item)


def test_texts() -> None:
    schema = RequestSchema({"kind": "texts", "column": "review"})
    assert schema.rows({"inputs": ["good", {"review": "bad"}]}) == ["good", "bad"]
    error = refusal(schema, {"inputs": [3]})
    assert error.field == "inputs[0]" and "expected a string" in error.message


def test_images_from_base64() -> None:
    schema = RequestSchema({"kind": "images", "input_shape": [8, 8, 3]})
    encoded = base64.b64encode(b"\x89PNG...").decode()
    assert schema.rows({"inputs": [encoded, {"image": encoded}]}) == [b"\x89PNG..."] * 2
    assert refusal(schema, {"inputs": [{"image": "%%%"}]}).message.endswith("not valid base64.")
    assert refusal(schema, {"inputs": [{"image": 1}]}).field == "inputs[0].image"


def test_request_schema_documents_both_forms() -> None:
    spec = RequestSchema(NUMERIC, max_rows=50).request_schema()
    inputs = spec["properties"]["inputs"]
    assert spec["required"] == ["inputs"] and inputs["maxItems"] == 50
    record, row = inputs["items"]["anyOf"]
    assert list(record["properties"]) == ["a", "b", "c"]
    assert record["additionalProperties"] is False
    assert row["minItems"] == row["maxItems"] == 3
