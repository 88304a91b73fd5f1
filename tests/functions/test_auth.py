"""Custom auth in the function service: `functions.auth` against the Auth objects of
tests/functions/auth_examples (the LangGraph docs tutorial and one object per behaviour), then the
AUTHENTICATE/AUTHORIZE CloudEvents and a run that reads its caller, through the function app."""

from __future__ import annotations

import copy
import json
import pickle
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import Auth
from redis.asyncio import Redis
from starlette.authentication import BaseUser

from contracts import auth as ac
from contracts import runtime as rt
from functions.app import create_app
from functions.auth import AuthenticatedUser, CustomAuth, StudioUser, attach_user, load_auth, user_object
from functions.execute import build_config
from functions.settings import FunctionSettings
from tests.functions.conftest import CONFIG_PATH, MakeRequest, function_client
from tests.functions.test_app import send

EXAMPLES = Path(__file__).parent / "auth_examples"
AUTH_CONFIG = EXAMPLES / "langgraph.json"
USER1 = ac.AuthUser(identity="user1", display_name="user1", fields={"identity": "user1"})


def load(name: str, file: str = "variants.py") -> CustomAuth:
    return load_auth(f"./{file}:{name}", EXAMPLES)


def authn(
    *headers: tuple[str, str], method: str = "GET", path: str = "/threads", query: str = ""
) -> ac.AuthenticateRequest:
    return ac.AuthenticateRequest(method=method, path=path, query_string=query, headers=list(headers))


def authz(
    resource: ac.Resource,
    action: ac.Action,
    value: dict[str, Any] | None = None,
    user: ac.AuthUser = USER1,
) -> ac.AuthorizeRequest:
    return ac.AuthorizeRequest(user=user, resource=resource, action=action, value=value or {})


def bearer(token: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {token}")


# --- loading ---------------------------------------------------------------------------------------


def test_unsupported_required_parameter_fails_at_load_listing_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"auth\.path") as failed:
        load("unsupported_param_auth")

    message = str(failed.value)
    assert "unsupported required parameters: token" in message
    for name in ("request", "headers", "authorization", "path", "method", "query_params", "scopes"):
        assert name in message


async def test_an_optional_unknown_parameter_is_left_to_its_default() -> None:
    result = await load("optional_extra_param_auth").authenticate(authn())

    assert result.user is not None
    assert result.user.identity == "retries-3"


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("./variants.py:no_authenticate_auth", "no @auth.authenticate handler"),
        ("./variants.py:not_an_auth", "dict, not a langgraph_sdk.Auth instance"),
        ("./variants.py:missing", "has no variable 'missing'"),
        ("./nowhere.py:auth", "no file"),
        ("no_such_module_for_auth:auth", "No module named 'no_such_module_for_auth'"),
        ("tutorial.py", "expected 'path/to/file.py:name'"),
    ],
)
def test_load_errors_name_auth_path(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=r"^auth\.path: ") as failed:
        load_auth(spec, EXAMPLES)

    assert complaint in str(failed.value)


def test_load_by_module_name() -> None:
    custom = load_auth("tests.functions.auth_examples.tutorial:auth", EXAMPLES)

    assert custom.parameters == ["authorization"]


# --- authenticate ----------------------------------------------------------------------------------


async def test_tutorial_bearer_token_gives_its_user() -> None:
    result = await load("auth", "tutorial.py").authenticate(authn(bearer("user1-token")))

    assert result == ac.AuthenticateResult(
        user=ac.AuthUser(
            identity="user1",
            display_name="user1",
            is_authenticated=True,
            permissions=[],
            kind="user",
            fields={"identity": "user1", "is_authenticated": True, "display_name": "user1"},
        )
    )


async def test_tutorial_unknown_token_is_refused_401() -> None:
    result = await load("auth", "tutorial.py").authenticate(authn(bearer("stolen")))

    assert result == ac.AuthenticateResult(refusal=ac.Refusal(status_code=401, detail="Invalid token"))


async def test_tutorial_failed_assert_is_an_error_not_a_refusal() -> None:
    custom = load("auth", "tutorial.py")

    with pytest.raises(AssertionError):
        await custom.authenticate(authn())


async def test_string_return_is_the_identity() -> None:
    result = await load("str_auth").authenticate(authn())

    assert result.user == ac.AuthUser(
        identity="alice",
        display_name="alice",
        fields={"identity": "alice", "is_authenticated": True, "display_name": "alice"},
    )


async def test_tuple_return_is_permissions_and_user() -> None:
    result = await load("tuple_auth").authenticate(authn())

    assert result.user is not None
    assert result.user.identity == "bob"
    assert result.user.permissions == ["threads:read", "threads:write"]
    assert result.user.fields == {
        "identity": "bob",
        "org": {"id": "org-1"},
        "is_authenticated": True,
        "display_name": "bob",
    }


async def test_object_with_identity_is_dumped_into_fields() -> None:
    result = await load("object_auth").authenticate(authn())

    assert result.user == ac.AuthUser(
        identity="carol",
        display_name="Carol C.",
        is_authenticated=True,
        permissions=["admin"],
        fields={
            "identity": "carol",
            "display_name": "Carol C.",
            "is_authenticated": True,
            "permissions": ["admin"],
            "team": "blue",
        },
    )


async def test_plain_object_keeps_its_properties_and_defaults() -> None:
    result = await load("plain_object_auth").authenticate(authn())

    assert result.user == ac.AuthUser(
        identity="dave",
        display_name="dave",
        is_authenticated=False,
        fields={"identity": "dave", "is_authenticated": False, "display_name": "dave"},
    )


async def test_mapping_with_permissions() -> None:
    result = await load("mapping_auth").authenticate(authn())

    assert result.user is not None
    assert (result.user.identity, result.user.display_name) == ("erin", "Erin")
    assert result.user.permissions == ["p1"]
    assert result.user.fields["tier"] == 2


async def test_a_user_without_identity_is_an_error() -> None:
    with pytest.raises(ValueError, match="Expected a user with an identity"):
        await load("none_auth").authenticate(authn())


async def test_sync_handler_runs_in_a_worker_thread() -> None:
    result = await load("sync_auth").authenticate(authn(bearer("t")))

    assert result.user is not None
    assert result.user.fields["authorization"] == "Bearer t"
    assert result.user.fields["thread"] != threading.current_thread().name


async def test_every_supported_parameter_is_injected() -> None:
    req = authn(
        ("host", "api.example.com"),
        ("x-tenant", "acme"),
        ("authorization", "Bearer abc"),
        method="POST",
        path="/threads/search",
        query="limit=5&tag=a&tag=b",
    )

    result = await load("echo_auth").authenticate(req)

    assert result.user is not None
    fields = result.user.fields
    assert fields["request_url"] == "http://api.example.com/threads/search?limit=5&tag=a&tag=b"
    assert (fields["request_method"], fields["request_tenant"], fields["request_body"]) == (
        "POST",
        "acme",
        "",
    )
    assert fields["headers_tenant"] == "acme"
    assert fields["header_keys_are_bytes"] is True
    assert fields["authorization"] == "Bearer abc"
    assert (fields["path"], fields["method"]) == ("/threads/search", "POST")
    assert fields["query"] == [["limit", "5"], ["tag", "a"], ["tag", "b"]]
    assert fields["path_params"] == {}
    assert fields["scope_type"] == "http"
    assert fields["scopes"] == []
    assert fields["user"] is None


async def test_403_http_exception_is_a_refusal_with_headers() -> None:
    result = await load("forbidden_auth").authenticate(authn())

    assert result.refusal == ac.Refusal(status_code=403, detail="No entry", headers={"X-Reason": "blocked"})
    assert result.user is None


async def test_starlette_authentication_error_is_a_403_refusal() -> None:
    result = await load("starlette_refusal_auth").authenticate(authn())

    assert result.refusal == ac.Refusal(status_code=403, detail="bad key")


async def test_http_exception_with_another_status_is_an_error() -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as raised:
        await load("teapot_auth").authenticate(authn())

    assert raised.value.status_code == 418


# --- authorize -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "action", "level"),
    [
        ("threads", "create", "resource+action"),
        ("threads", "read", "resource"),
        ("threads", "delete", "resource"),  # (resource, "*") before ("*", action)
        ("assistants", "create", "action"),
        ("crons", "delete", "action"),
        ("assistants", "read", "global"),
        ("store", "put", "global"),
    ],
)
async def test_the_most_specific_handler_decides(
    resource: ac.Resource, action: ac.Action, level: str
) -> None:
    result = await load("precedence_auth").authorize(authz(resource, action))

    assert result == ac.AuthorizeResult(value={}, filters={"level": level})


async def _anyone() -> str:
    return "anyone"


def _fixed(level: str) -> Any:
    async def handler(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
        return {"level": level}

    return handler


async def test_a_star_star_handler_comes_before_the_global_one_and_the_last_registered_wins() -> None:
    auth = Auth()
    auth.authenticate(_anyone)
    auth.on(_fixed("global"))
    auth._handlers[("*", "*")] = [_fixed("star-star")]
    auth._handlers[("crons", "create")] = [_fixed("first"), _fixed("last")]
    custom = CustomAuth(auth)

    assert (await custom.authorize(authz("assistants", "read"))).filters == {"level": "star-star"}
    assert (await custom.authorize(authz("crons", "create"))).filters == {"level": "last"}


async def test_without_a_handler_the_value_passes_unfiltered() -> None:
    value = {"thread_id": "t1", "metadata": {"a": 1}}

    result = await load("str_auth").authorize(authz("threads", "create", value))

    assert result == ac.AuthorizeResult(value=value, filters=None, refusal=None)


async def test_false_is_403_forbidden() -> None:
    result = await load("results_auth").authorize(authz("threads", "create", {"thread_id": "t"}))

    assert result.refusal == ac.Refusal(status_code=403, detail="Forbidden")


async def test_true_allows_without_filters() -> None:
    result = await load("results_auth").authorize(authz("threads", "read", {"thread_id": "t"}))

    assert result == ac.AuthorizeResult(value={"thread_id": "t"}, filters=None)


async def test_failed_assert_is_403_with_its_text() -> None:
    custom = load("results_auth")
    admin = USER1.model_copy(update={"permissions": ["admin"]})

    refused = await custom.authorize(authz("threads", "update"))
    allowed = await custom.authorize(authz("threads", "update", user=admin))

    assert refused.refusal == ac.Refusal(status_code=403, detail="admins only")
    assert allowed.refusal is None


async def test_http_exception_is_a_refusal_with_its_status() -> None:
    result = await load("results_auth").authorize(authz("threads", "delete"))

    assert result.refusal == ac.Refusal(status_code=404, detail="No such thread", headers={"X-Why": "hidden"})


async def test_invalid_result_is_a_500_refusal() -> None:
    result = await load("results_auth").authorize(authz("threads", "search"))

    assert result.refusal == ac.Refusal(
        status_code=500,
        detail="Auth handler returned invalid result. Expected filter dict, None, or boolean. "
        "Got <class 'str'> instead.",
    )


async def test_the_value_comes_back_as_the_handler_left_it() -> None:
    req = authz("assistants", "create", {"graph_id": "agent", "metadata": {"team": "x"}})

    result = await load("results_auth").authorize(req)

    assert result.value == {"graph_id": "agent", "metadata": {"team": "x", "owner": "user1"}}
    assert result.filters == {"owner": "user1"}
    assert req.value == {"graph_id": "agent", "metadata": {"team": "x"}}  # the handler had a copy


async def test_store_namespace_is_a_tuple_for_the_handler_and_a_list_again_after() -> None:
    req = authz("store", "put", {"namespace": ["docs", "a"], "key": "k", "value": {"v": 1}})

    result = await load("results_auth").authorize(req)

    assert result.refusal is None
    assert result.value == {"namespace": ["user1", "docs", "a"], "key": "k", "value": {"v": 1}}
    assert json.loads(result.model_dump_json())["value"]["namespace"] == ["user1", "docs", "a"]


async def test_tutorial_store_handler_keeps_users_in_their_namespace() -> None:
    custom = load("auth", "tutorial.py")

    own = await custom.authorize(authz("store", "get", {"namespace": ["user1", "notes"], "key": "k"}))
    other = await custom.authorize(authz("store", "get", {"namespace": ["user2", "notes"], "key": "k"}))

    assert (own.refusal, own.filters) == (None, None)
    assert other.refusal == ac.Refusal(status_code=403, detail="Not authorized")


async def test_tutorial_global_handler_tags_and_filters() -> None:
    result = await load("auth", "tutorial.py").authorize(authz("threads", "create", {"thread_id": "t"}))

    assert result == ac.AuthorizeResult(
        value={"thread_id": "t", "metadata": {"owner": "user1"}}, filters={"owner": "user1"}
    )


async def test_another_exception_from_a_handler_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="handler bug"):
        await load("results_auth").authorize(authz("crons", "create"))


async def test_handlers_see_the_user_as_the_official_server_shows_it() -> None:
    user = ac.AuthUser(
        identity="erin",
        display_name="Erin",
        permissions=["p1"],
        fields={"identity": "erin", "display_name": "Erin", "is_authenticated": True, "tier": 2},
    )

    result = await load("results_auth").authorize(authz("assistants", "read", user=user))

    assert result.filters == {
        "attr": "erin",
        "item": "erin",
        "get": 2,
        "display_name": "Erin",
        "is_authenticated": True,
        "has_identity": True,
        "studio": False,
        "base_user": True,
        "permissions": ["p1"],
    }


async def test_studio_users_are_sdk_studio_users() -> None:
    custom = load("studio_auth")
    studio = ac.AuthUser(identity="ls-user", display_name="ls-user", kind="studio")

    allowed = await custom.authorize(authz("threads", "read", user=studio))
    refused = await custom.authorize(authz("threads", "read"))

    assert allowed.refusal is None
    assert refused.refusal == ac.Refusal(status_code=403, detail="Forbidden")


# --- the user object -------------------------------------------------------------------------------


def test_authenticated_user_reads_like_the_official_proxy_user() -> None:
    user = user_object(
        ac.AuthUser(
            identity="bob", display_name="Bob", fields={"identity": "bob", "org": {"id": "org-1"}, "n": 1}
        )
    )

    assert isinstance(user, AuthenticatedUser)
    assert isinstance(user, BaseUser)
    assert (user.identity, user.display_name, user.is_authenticated) == ("bob", "Bob", True)
    assert user["identity"] == "bob"
    assert user.get("n") == 1
    assert user.get("missing", "d") == "d"
    assert user.org.id == "org-1"
    assert user["org"] == {"id": "org-1"}
    assert "org" in user
    assert set(user) == {"identity", "display_name", "is_authenticated", "org", "n"}
    assert dict(user.items()) == user.dict() == user.model_dump()
    with pytest.raises(AttributeError):
        _ = user.missing


def test_user_objects_copy_and_pickle() -> None:
    user = user_object(USER1)
    studio = user_object(
        ac.AuthUser(identity="ls", display_name="ls", permissions=["authenticated"], kind="studio")
    )

    for original in (user, studio):
        for clone in (copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))):
            assert type(clone) is type(original)
            assert clone.dict() == original.dict()
    deep = copy.deepcopy(user)
    assert isinstance(deep, AuthenticatedUser)
    deep["identity"] = "changed"
    assert user.identity == "user1"


def test_studio_user_reads_like_the_official_one() -> None:
    studio = user_object(
        ac.AuthUser(
            identity="ls",
            display_name="ls",
            permissions=["authenticated"],
            kind="studio",
            fields={"ls_user_id": "u-1"},
        )
    )

    assert isinstance(studio, StudioUser)
    assert isinstance(studio, Auth.types.StudioUser)
    assert isinstance(studio, BaseUser)
    assert studio.dict() == {
        "kind": "StudioUser",
        "is_authenticated": True,
        "display_name": "ls",
        "identity": "ls",
        "permissions": ["authenticated"],
        "ls_user_id": "u-1",
    }
    assert (studio["identity"], studio.get("kind"), studio.get("nope", 0)) == ("ls", "StudioUser", 0)
    assert "permissions" in studio


def test_build_config_turns_the_stored_user_into_the_user_object(make_request: MakeRequest) -> None:
    stored = ac.AuthUser(
        identity="user1",
        display_name="Alice",
        permissions=["read"],
        fields={"identity": "user1", "team": "t"},
    )
    configurable = {
        "langgraph_auth_user": stored.model_dump(),
        "langgraph_auth_user_id": "user1",
        "langgraph_auth_permissions": ["read"],
    }

    config = build_config(make_request(config={"configurable": configurable}))

    user = config["configurable"]["langgraph_auth_user"]
    assert isinstance(user, AuthenticatedUser)
    assert (user.identity, user["identity"], user.get("identity")) == ("user1", "user1", "user1")
    assert (user.display_name, user.team) == ("Alice", "t")
    assert config["configurable"]["langgraph_auth_user_id"] == "user1"
    assert config["configurable"]["langgraph_auth_permissions"] == ["read"]
    assert config["configurable"]["thread_id"]  # the ids build_config adds are still there


def test_build_config_leaves_no_user_alone(make_request: MakeRequest) -> None:
    none = build_config(make_request(config={"configurable": {"langgraph_auth_user": None}}))
    absent = build_config(make_request())

    assert none["configurable"]["langgraph_auth_user"] is None
    assert "langgraph_auth_user" not in absent["configurable"]


def test_attach_user_accepts_a_bare_user_dict_and_studio_users() -> None:
    bare = attach_user({"configurable": {"langgraph_auth_user": {"identity": "x", "k": 1}}})
    studio = attach_user(
        {"configurable": {"langgraph_auth_user": ac.AuthUser(identity="s", display_name="s", kind="studio")}}
    )

    assert bare["configurable"]["langgraph_auth_user"].k == 1
    assert isinstance(studio["configurable"]["langgraph_auth_user"], ac.AuthUser)  # not a dict: left alone
    studio = attach_user(
        {
            "configurable": {
                "langgraph_auth_user": ac.AuthUser(identity="s", display_name="s", kind="studio").model_dump()
            }
        }
    )
    assert isinstance(studio["configurable"]["langgraph_auth_user"], Auth.types.StudioUser)


# --- through the function app ----------------------------------------------------------------------


@pytest.fixture
async def auth_client(pg_dsn: str, redis_url: str, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with function_client(pg_dsn, redis_url, AUTH_CONFIG) as client:
        yield client


async def test_authenticate_event(auth_client: httpx.AsyncClient) -> None:
    response, reply = await send(auth_client, ac.AUTHENTICATE_REQUESTED, authn(bearer("user2-token")))

    assert response.status_code == 200
    assert reply.get_type() == ac.AUTHENTICATED
    result = ac.AuthenticateResult.model_validate(reply.get_data())
    assert result.user is not None
    assert result.user.identity == "user2"


async def test_authenticate_event_refusal(auth_client: httpx.AsyncClient) -> None:
    response, reply = await send(auth_client, ac.AUTHENTICATE_REQUESTED, authn(bearer("nope")))

    assert response.status_code == 200
    assert reply.get_type() == ac.AUTHENTICATED
    assert ac.AuthenticateResult.model_validate(reply.get_data()) == ac.AuthenticateResult(
        refusal=ac.Refusal(status_code=401, detail="Invalid token")
    )


async def test_authenticate_event_failed_assert_is_500(auth_client: httpx.AsyncClient) -> None:
    response, reply = await send(auth_client, ac.AUTHENTICATE_REQUESTED, authn())

    assert response.status_code == 500
    assert reply.get_type() == rt.FAILED
    assert rt.Failure.model_validate(reply.get_data()) == rt.Failure(
        error="AssertionError", message="An internal error occurred"
    )


async def test_authorize_event(auth_client: httpx.AsyncClient) -> None:
    response, reply = await send(
        auth_client, ac.AUTHORIZE_REQUESTED, authz("threads", "create", {"thread_id": "t", "metadata": {}})
    )

    assert response.status_code == 200
    assert reply.get_type() == ac.AUTHORIZED
    assert ac.AuthorizeResult.model_validate(reply.get_data()) == ac.AuthorizeResult(
        value={"thread_id": "t", "metadata": {"owner": "user1"}}, filters={"owner": "user1"}
    )


async def test_authorize_event_refusal(auth_client: httpx.AsyncClient) -> None:
    req = authz("store", "search", {"namespace": ["someone-else"], "query": None})
    _, reply = await send(auth_client, ac.AUTHORIZE_REQUESTED, req)

    result = ac.AuthorizeResult.model_validate(reply.get_data())
    assert result.refusal == ac.Refusal(status_code=403, detail="Not authorized")


async def test_authorize_event_with_an_invalid_payload_is_400(auth_client: httpx.AsyncClient) -> None:
    bad = json.dumps({"user": USER1.model_dump(), "resource": "runs", "action": "read", "value": {}})
    response, reply = await send(auth_client, ac.AUTHORIZE_REQUESTED, bad.encode())

    assert response.status_code == 400
    assert reply.get_type() == rt.FAILED


@pytest.mark.parametrize(
    ("stored", "seen"),
    [
        (
            ac.AuthUser(
                identity="user1", display_name="Alice", permissions=["read"], fields={"identity": "user1"}
            ),
            {
                "attr": "user1",
                "item": "user1",
                "get": "user1",
                "display_name": "Alice",
                "base_user": True,
                "studio": False,
                "user_id": "user1",
                "permissions": ["read"],
            },
        ),
        (
            ac.AuthUser(identity="ls", display_name="ls", permissions=["read"], kind="studio"),
            {
                "attr": "ls",
                "item": "ls",
                "get": "ls",
                "display_name": "ls",
                "base_user": True,
                "studio": True,
                "user_id": "ls",
                "permissions": ["read"],
            },
        ),
    ],
)
async def test_a_run_sees_its_caller(
    auth_client: httpx.AsyncClient, make_request: MakeRequest, stored: ac.AuthUser, seen: dict[str, Any]
) -> None:
    configurable = {
        "langgraph_auth_user": stored.model_dump(),
        "langgraph_auth_user_id": stored.identity,
        "langgraph_auth_permissions": stored.permissions,
    }
    req = make_request("whoami", input={}, config={"configurable": configurable}, stream_mode=["debug"])

    _, reply = await send(auth_client, rt.RUN_REQUESTED, req, runid=req.run_id, attempt="1")

    outcome = rt.RunOutcome.model_validate(reply.get_data())
    assert outcome.status == "success", outcome.error
    assert outcome.values == {"seen": seen}


async def test_a_run_without_caller_sees_none(
    auth_client: httpx.AsyncClient, make_request: MakeRequest
) -> None:
    req = make_request("whoami", input={}, config={"configurable": {"langgraph_auth_user": None}})

    _, reply = await send(auth_client, rt.RUN_REQUESTED, req, runid=req.run_id, attempt="1")

    assert rt.RunOutcome.model_validate(reply.get_data()).values == {"seen": {"user": None}}


@pytest.fixture
async def plain_client(pg_dsn: str, redis_url: str, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with function_client(pg_dsn, redis_url, CONFIG_PATH) as client:
        yield client


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [(ac.AUTHENTICATE_REQUESTED, authn()), (ac.AUTHORIZE_REQUESTED, authz("threads", "read"))],
)
async def test_without_auth_path_auth_events_are_400(
    plain_client: httpx.AsyncClient, event_type: str, payload: ac.AuthenticateRequest | ac.AuthorizeRequest
) -> None:
    response, reply = await send(plain_client, event_type, payload)

    assert response.status_code == 400
    assert rt.Failure.model_validate(reply.get_data()) == rt.Failure(
        error="BadRequestError", message="custom auth is not configured (auth.path)"
    )


async def test_a_bad_auth_path_fails_startup(tmp_path: Path, pg_dsn: str, redis_url: str) -> None:
    config = {
        "graphs": {"whoami": str(EXAMPLES / "whoami_graph.py") + ":whoami"},
        "auth": {"path": str(EXAMPLES / "variants.py") + ":unsupported_param_auth"},
    }
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    app = create_app(
        FunctionSettings(database_url=pg_dsn, redis_url=redis_url, config_path=tmp_path / "langgraph.json")
    )

    with pytest.raises(ValueError, match=r"auth\.path: .*unsupported required parameters: token"):
        async with app.router.lifespan_context(app):
            pass
