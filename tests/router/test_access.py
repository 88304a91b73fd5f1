"""router.access: custom auth's filters, normalised and matched in Python exactly as Postgres matches
them in searches (`metadata @> ANY(...)`), checked against a real Postgres."""

from __future__ import annotations

from typing import Any

import pytest

from router import access, errors
from router.store.pool import open_pool

METADATA: list[dict[str, Any]] = [
    {},
    {"owner": "user1"},
    {"owner": "user2"},
    {"owner": "user1", "team": "a"},
    {"owner": "user1", "tags": ["x", "y"]},
    {"owner": "user3", "tags": ["y"]},
    {"owner": 1},
    {"owner": True},
    {"nested": {"a": 1, "b": 2}},
]

FILTERS: list[dict[str, Any]] = [
    {"owner": "user1"},
    {"owner": {"$eq": "user1"}},
    {"tags": {"$contains": "y"}},
    {"tags": {"$contains": ["x", "y"]}},
    {"owner": "user1", "team": "a"},
    {"$or": [{"owner": "user1"}, {"owner": "user2"}]},
    {"$and": [{"owner": "user1"}, {"tags": {"$contains": "x"}}]},
    {"$or": [{"owner": "user3"}, {"$and": [{"owner": "user1"}, {"team": "a"}]}], "tags": {"$contains": "y"}},
    {"owner": "user1", "$and": [{"owner": "user2"}, {"team": "a"}]},  # contradictory: matches nothing
    {"owner": 1},
    {"owner": True},
    {"nested": {"a": 1}},
    {},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[str(f) for f in FILTERS])
async def test_python_matching_agrees_with_postgres(pg_dsn: str, filters: dict[str, Any]) -> None:
    normal = access.normalise(filters)
    async with open_pool(pg_dsn, min_size=1, max_size=1, command_timeout=10) as pool:
        for metadata in METADATA:
            in_pg = await pool.fetchval("SELECT $1::jsonb @> ANY($2::jsonb[])", metadata, normal)
            assert access.matches(metadata, normal) is in_pg, (metadata, filters, normal)


def test_or_and_and_expand_to_a_disjunction() -> None:
    assert access.normalise({"$or": [{"a": 1}, {"b": 2}], "c": 3}) == [{"a": 1, "c": 3}, {"b": 2, "c": 3}]
    assert access.normalise({"a": {"$contains": "x"}}) == [{"a": ["x"]}]
    assert access.normalise({"a": 1, "$and": [{"a": 2}, {"b": 1}]}) == []
    assert access.normalise({}) == [{}]


def test_no_filters_match_everything_and_an_empty_disjunction_nothing() -> None:
    assert access.matches({"owner": "x"}, None)
    assert not access.matches({"owner": "x"}, [])


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        ({"$or": [{"a": 1}]}, "invalid $or operator"),
        ({"$and": "x"}, "invalid $and operator"),
        ({"a": {"$gt": 1}}, "unsupported operator"),
        (
            {"$or": [{"$or": [{"$or": [{"a": 1}, {"a": 2}]}, {"a": 3}]}, {"a": 4}]},
            "too many nested operators",
        ),
    ],
)
def test_malformed_filters_are_a_500_naming_the_problem(filters: dict[str, Any], words: str) -> None:
    with pytest.raises(errors.AuthHandlerRefusedError) as caught:
        access.normalise(filters)
    assert caught.value.status == 500
    assert words in caught.value.message


async def test_without_an_authorizer_events_cost_nothing() -> None:
    value = {"thread_id": "t"}
    assert await access.authorize("threads", "read", value) == (value, None)
    assert access.caller() is None


class _Recorder:
    def __init__(self, filters: dict[str, Any] | None) -> None:
        self.user: dict[str, Any] = {"identity": "user1"}
        self.filters = filters
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    async def check(
        self, resource: str, action: str, value: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        self.seen.append((resource, action, value))
        return {**value, "metadata": {"owner": "user1"}}, self.filters


async def test_an_installed_authorizer_sees_the_event_and_its_filters_are_normalised() -> None:
    recorder = _Recorder({"owner": "user1"})
    access.install(recorder)
    try:
        value, filters = await access.authorize("threads", "create", {"thread_id": "t"})
        assert recorder.seen == [("threads", "create", {"thread_id": "t"})]
        assert value["metadata"] == {"owner": "user1"}
        assert filters == [{"owner": "user1"}]
        assert access.caller() == {"identity": "user1"}
    finally:
        access.install(None)
