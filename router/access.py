"""Custom auth's authorization side, as services see it: the `@auth.on` handler events of the current
request and the metadata filters they return.

The API's request pipeline (router.api.auth) installs an `Authorizer` for a request that custom auth
(langgraph.json `auth.path`) authenticated; services call `authorize(resource, action, value)` where
the official server fires the same event, use the value as the handler left it (added metadata, a
rewritten store namespace), and apply the filters:

- to one item (`matches`): an item the filters exclude is "not found", as on the official server;
- to searches and counts (`any_of`): the filters as a list of JSON objects, one of which the item's
  metadata must contain (`metadata @> ANY(...)` in SQL).

Filters are the official ones: `{key: value}` and `{key: {"$eq": value}}` (equal), `{key:
{"$contains": value}}` (the list at `key` holds `value`, or all of `value` if it is a list), `$and` /
`$or` of filter objects (at least two each, nested at most twice). They are normalised to a
disjunction of containment objects, which is exactly how Postgres' `@>` evaluates them. One
difference from the in-memory dev server: `$eq` on an object value means "contains" there too.

Without an Authorizer (API keys, or auth off) `authorize` returns the value and no filters at once.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Mapping
from typing import Any, Protocol

from router import errors

Filters = list[dict[str, Any]]
"""A disjunction: the metadata must contain at least one of these objects."""

MAX_NESTING = 2


class Authorizer(Protocol):
    user: dict[str, Any]
    """The caller as runs carry it (`configurable.langgraph_auth_user`): contracts.auth.AuthUser."""

    async def check(
        self, resource: str, action: str, value: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Run the handler for (resource, action): the value as it left it and the filters it returned;
        raise a RouterError (401/403/500 with the handler's detail) if it refused."""
        ...


_current: contextvars.ContextVar[Authorizer | None] = contextvars.ContextVar(
    "langopen_authorizer", default=None
)


def install(authorizer: Authorizer | None) -> None:
    _current.set(authorizer)


def active() -> Authorizer | None:
    return _current.get()


async def authorize(
    resource: str, action: str, value: dict[str, Any]
) -> tuple[dict[str, Any], Filters | None]:
    """Fire the handler event; (value as the handler left it, normalised filters or None)."""
    authorizer = _current.get()
    if authorizer is None:
        return value, None
    new_value, filters = await authorizer.check(resource, action, value)
    return new_value, normalise(filters) if filters else None  # [] (filters no item meets) is not None


def caller() -> dict[str, Any] | None:
    """The custom-auth user of the current request (for a run's config), or None."""
    authorizer = _current.get()
    return authorizer.user if authorizer is not None else None


def _bad(detail: str) -> errors.RouterError:
    return errors.AuthHandlerRefusedError(500, detail)


def normalise(filters: Mapping[str, Any], depth: int = 0) -> Filters:
    """A handler's filter object as a disjunction of containment objects."""
    if depth > MAX_NESTING:
        raise _bad(
            "Your auth handler returned a filter with too many nested operators. The maximum depth for "
            "nested operators is 2. Please simplify your filter."
        )
    conjuncts: list[Filters] = []
    for key, condition in filters.items():
        if key in ("$or", "$and"):
            groups = _groups(key, condition, depth)
            if key == "$or":
                conjuncts.append([d for group in groups for d in group])
            else:
                conjuncts.extend(groups)
        else:
            conjuncts.append([_condition(key, condition)])
    out: Filters = []
    for combination in itertools.product(*conjuncts):
        merged: dict[str, Any] | None = {}
        for part in combination:
            merged = _merge(merged, part)
        if merged is not None:
            out.append(merged)
    return out


def _groups(key: str, condition: Any, depth: int) -> list[Filters]:
    if (
        not isinstance(condition, list)
        or len(condition) < 2
        or not all(isinstance(g, dict) for g in condition)
    ):
        raise _bad(
            f"Your auth handler returned a filter with an invalid {key} operator. The {key} operator must be "
            "a list of at least 2 filter objects. Check the filter returned by your auth handler."
        )
    return [normalise(group, depth + 1) for group in condition]


def _condition(key: str, condition: Any) -> dict[str, Any]:
    """One `key: condition` of a filter as a containment object."""
    if isinstance(condition, dict) and any(str(k).startswith("$") for k in condition):
        if len(condition) != 1 or next(iter(condition)) not in ("$eq", "$contains"):
            raise _bad(
                f"Your auth handler returned a filter with an unsupported operator on {key!r}: {condition}"
            )
        op, operand = next(iter(condition.items()))
        if op == "$contains":
            return {key: operand if isinstance(operand, list) else [operand]}
        return {key: operand}
    return {key: condition}


def _merge(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any] | None:
    """An object containing both (None: no object can, e.g. two different scalars at one key)."""
    if a is None:
        return None
    merged = dict(a)
    for key, value in b.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(merged[key], dict) and isinstance(value, dict):
            inner = _merge(merged[key], value)
            if inner is None:
                return None
            merged[key] = inner
        elif isinstance(merged[key], list) and isinstance(value, list):
            merged[key] = merged[key] + [v for v in value if v not in merged[key]]
        elif merged[key] != value:
            return None
    return merged


def contains(have: Any, want: Any) -> bool:
    """Postgres' jsonb `@>` on Python JSON values."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and contains(have[k], v) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list):
            return False
        return all(any(contains(h, w) for h in have) for w in want)
    if isinstance(have, bool) or isinstance(want, bool):
        return have is want
    return bool(have == want)


def matches(metadata: Mapping[str, Any] | None, filters: Filters | None) -> bool:
    if filters is None:
        return True
    return any(contains(dict(metadata or {}), f) for f in filters)
