"""The LangGraph docs' custom-auth tutorial, as users copy it: a Bearer token looked up in a dict
(`Auth.exceptions.HTTPException(401, "Invalid token")` otherwise), a global handler that tags
every resource with its owner, and a store handler that keeps users in their own namespace."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

VALID_TOKENS = {
    "user1-token": {"id": "user1", "name": "Alice"},
    "user2-token": {"id": "user2", "name": "Bob"},
}

auth = Auth()


@auth.authenticate
async def get_current_user(authorization: str | None) -> Auth.types.MinimalUserDict:
    """Check if the user's token is valid."""
    assert authorization
    scheme, token = authorization.split()
    assert scheme.lower() == "bearer"
    if token not in VALID_TOKENS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid token")
    user_data = VALID_TOKENS[token]
    return {"identity": user_data["id"]}


@auth.on
async def add_owner(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """Make resources private to their creator."""
    filters = {"owner": ctx.user.identity}
    metadata = value.setdefault("metadata", {})
    metadata.update(filters)
    return filters


@auth.on.store()
async def authorize_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    namespace: tuple[str, ...] = value["namespace"]
    assert namespace[0] == ctx.user.identity, "Not authorized"
