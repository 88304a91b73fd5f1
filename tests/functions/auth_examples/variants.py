"""One `Auth` object per behaviour under test: each authenticate return shape the official server
accepts, a sync handler, every parameter a handler may ask for, refusals and failures, handlers at
each precedence level, each kind of authorization result, and a store namespace rewrite."""

from __future__ import annotations

import threading
from typing import Any

from langgraph_sdk import Auth
from pydantic import BaseModel
from starlette.authentication import AuthenticationError, BaseUser
from starlette.datastructures import QueryParams
from starlette.requests import Request

# --- authenticate: return shapes ---------------------------------------------------------------

str_auth = Auth()


@str_auth.authenticate
async def as_string(authorization: str | None) -> str:
    return "alice"


tuple_auth = Auth()


@tuple_auth.authenticate  # type: ignore[type-var]  # the SDK's types omit the tuple the server accepts
async def as_tuple() -> tuple[list[str], dict[str, Any]]:
    return ["threads:read", "threads:write"], {"identity": "bob", "org": {"id": "org-1"}}


class Account(BaseModel):
    identity: str
    display_name: str
    permissions: list[str]
    team: str


object_auth = Auth()


@object_auth.authenticate
async def as_object() -> Account:
    return Account(identity="carol", display_name="Carol C.", permissions=["admin"], team="blue")


class PlainUser:
    """An object with `.identity` and nothing to dump."""

    identity = "dave"
    is_authenticated = False


plain_object_auth = Auth()


@plain_object_auth.authenticate
async def as_plain_object() -> PlainUser:
    return PlainUser()


mapping_auth = Auth()


@mapping_auth.authenticate
async def as_mapping() -> dict[str, Any]:
    return {"identity": "erin", "display_name": "Erin", "permissions": ["p1"], "tier": 2}


none_auth = Auth()


@none_auth.authenticate  # type: ignore[type-var]  # deliberately returns no user
async def as_nothing() -> None:
    return None


sync_auth = Auth()


@sync_auth.authenticate  # type: ignore[type-var]  # the SDK's types omit the sync handlers the server accepts
def in_a_thread(authorization: str | None) -> dict[str, Any]:
    return {"identity": "sync", "thread": threading.current_thread().name, "authorization": authorization}


# --- authenticate: parameters ------------------------------------------------------------------

echo_auth = Auth()


@echo_auth.authenticate
async def echo(
    request: Request,
    headers: dict[bytes, bytes],
    authorization: str | None,
    path: str,
    method: str,
    query_params: QueryParams,
    path_params: dict[str, str],
    scope: dict[str, Any],
    scopes: list[str],
    user: BaseUser | None,
) -> dict[str, Any]:
    return {
        "identity": "echo",
        "request_url": str(request.url),
        "request_method": request.method,
        "request_tenant": request.headers.get("x-tenant"),
        "request_body": (await request.body()).decode(),
        "headers_tenant": headers[b"x-tenant"].decode(),
        "header_keys_are_bytes": all(isinstance(k, bytes) for k in headers),
        "authorization": authorization,
        "path": path,
        "method": method,
        "query": query_params.multi_items(),
        "path_params": path_params,
        "scope_type": scope["type"],
        "scopes": scopes,
        "user": user,
    }


unsupported_param_auth = Auth()


@unsupported_param_auth.authenticate
async def wants_a_token(token: str) -> str:
    return token


optional_extra_param_auth = Auth()


@optional_extra_param_auth.authenticate
async def optional_extra(authorization: str | None, retries: int = 3) -> str:
    return f"retries-{retries}"


no_authenticate_auth = Auth()

not_an_auth = {"path": "not an Auth"}

# --- authenticate: refusals and failures -------------------------------------------------------

forbidden_auth = Auth()


@forbidden_auth.authenticate
async def forbid() -> str:
    raise Auth.exceptions.HTTPException(status_code=403, detail="No entry", headers={"X-Reason": "blocked"})


starlette_refusal_auth = Auth()


@starlette_refusal_auth.authenticate
async def starlette_refusal() -> str:
    raise AuthenticationError("bad key")


teapot_auth = Auth()


@teapot_auth.authenticate
async def teapot() -> str:
    raise Auth.exceptions.HTTPException(status_code=418, detail="I'm a teapot")


# --- authorize: precedence ---------------------------------------------------------------------

precedence_auth = Auth()


@precedence_auth.authenticate
async def anyone() -> str:
    return "anyone"


@precedence_auth.on.threads.create
async def threads_create(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    return {"level": "resource+action"}


@precedence_auth.on.threads
async def threads_any(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    return {"level": "resource"}


@precedence_auth.on(actions=["create", "delete"])
async def any_create(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    return {"level": "action"}


@precedence_auth.on
async def everything_else(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    return {"level": "global"}


# --- authorize: results ------------------------------------------------------------------------

results_auth = Auth()


@results_auth.authenticate
async def someone() -> str:
    return "someone"


@results_auth.on.threads.create
async def deny(ctx: Auth.types.AuthContext, value: Any) -> bool:
    return False


@results_auth.on.threads.read
async def allow(ctx: Auth.types.AuthContext, value: Any) -> bool:
    return True


@results_auth.on.threads.update
async def must_be_admin(ctx: Auth.types.AuthContext, value: Any) -> None:
    assert "admin" in ctx.permissions, "admins only"


@results_auth.on.threads.delete
async def gone(ctx: Auth.types.AuthContext, value: Any) -> None:
    raise Auth.exceptions.HTTPException(status_code=404, detail="No such thread", headers={"X-Why": "hidden"})


@results_auth.on.threads.search
async def invalid(ctx: Auth.types.AuthContext, value: Any) -> Any:
    return "yes"


@results_auth.on.assistants.create
async def tag_and_filter(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    value.setdefault("metadata", {})["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}


@results_auth.on.crons
async def broken(ctx: Auth.types.AuthContext, value: Any) -> None:
    raise RuntimeError("handler bug")


@results_auth.on.store()
async def namespaced(ctx: Auth.types.AuthContext, value: Any) -> None:
    assert isinstance(value["namespace"], tuple), f"namespace is a {type(value['namespace']).__name__}"
    value["namespace"] = (ctx.user.identity, *value["namespace"])


@results_auth.on.assistants.read
async def user_view(ctx: Auth.types.AuthContext, value: Any) -> Any:
    user: Any = ctx.user  # an Auth.types.BaseUser, which declares no .get
    return {
        "attr": user.identity,
        "item": user["identity"],
        "get": user.get("tier", "none"),
        "display_name": user.display_name,
        "is_authenticated": user.is_authenticated,
        "has_identity": "identity" in user,
        "studio": isinstance(user, Auth.types.StudioUser),
        "base_user": isinstance(user, BaseUser),
        "permissions": list(ctx.permissions),
    }


# --- authorize: Studio users -------------------------------------------------------------------

studio_auth = Auth()


@studio_auth.authenticate
async def nobody() -> str:
    return "nobody"


@studio_auth.on
async def studio_only(ctx: Auth.types.AuthContext, value: Any) -> bool:
    return isinstance(ctx.user, Auth.types.StudioUser)
