"""Custom auth (`auth.path` of langgraph.json): the user's `langgraph_sdk.Auth` object, run here.

The router asks (contracts.auth) and this module answers, with the official server's rules:

- `load_auth` imports the object at startup (`path/to/file.py:auth` or `module:auth`, files relative
  to langgraph.json's folder) and refuses, with a ValueError naming `auth.path`, anything that is not
  an `Auth` with an `@auth.authenticate` handler, or whose handler requires a parameter the server
  does not pass.
- `CustomAuth.authenticate` calls that handler with the parameters it names, taken from a request
  rebuilt from the router's method, path, query string and headers (the body is empty). A 401/403
  `Auth.exceptions.HTTPException` (or starlette `AuthenticationError`) is a refusal; anything else
  it raises goes up to the caller (a 500). The user it returns — a string, a mapping with
  `identity`, an object with `.identity`, optionally in a `(permissions, user)` tuple or carrying
  `permissions` — becomes an `AuthUser`.
- `CustomAuth.authorize` runs the most specific `@auth.on` handler for (resource, action) on a copy
  of the value, and answers the value as the handler left it, the filters it returned, or a refusal.
- `user_object` rebuilds the user handlers and graphs see from an `AuthUser`: an `AuthenticatedUser`
  (a starlette `BaseUser` that is also the user's fields as a dict, so it reads as `user.identity`,
  `user["identity"]` or `user.get("identity")`) or, for Studio's API-key path, a `StudioUser`.
  `attach_user` puts it into a config's `configurable["langgraph_auth_user"]`, where the router
  stored the `AuthUser` as JSON.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from langgraph_sdk import Auth
from langgraph_sdk.auth.types import AuthContext, Handler
from langgraph_sdk.auth.types import StudioUser as SDKStudioUser
from pydantic import ValidationError
from starlette.authentication import AuthenticationError, BaseUser
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import Message, Scope

from contracts.auth import (
    AuthenticateRequest,
    AuthenticateResult,
    AuthorizeRequest,
    AuthorizeResult,
    AuthUser,
    Refusal,
)
from functions.graphs import load_object
from functions.serde import to_jsonable

logger = logging.getLogger(__name__)

AUTHENTICATE_PARAMETERS = {
    "request": "starlette.requests.Request",
    "headers": "dict[bytes, bytes]",
    "authorization": "str | None",
    "path": "str",
    "method": "str",
    "query_params": "starlette.datastructures.QueryParams",
    "path_params": "dict[str, str]",
    "scope": "dict[str, Any]",
    "scopes": "list[str]",
    "user": "BaseUser | None",
}
"""What an `@auth.authenticate` handler may ask for by name (as on the official server)."""

CONFIG_USER_KEY = "langgraph_auth_user"
Fields = dict[str, Any]
Memo = dict[int, Any]


class AuthenticatedUser(dict[str, Any], BaseUser):
    """The user an `@auth.authenticate` handler returned, as handlers and graphs see it.

    It is the user's fields (at least `identity`, `display_name`, `is_authenticated`) as a dict, and
    every field is also an attribute; nested mappings read as attributes too (`user.org.id`). Being a
    dict, it encodes as its fields wherever a config is written out as JSON.
    """

    @property
    def identity(self) -> str:
        return cast(str, self["identity"])

    @property
    def display_name(self) -> str:
        return cast(str, self.get("display_name", self.identity))

    @property
    def is_authenticated(self) -> bool:
        return bool(self.get("is_authenticated", True))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name not in self:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = self[name]
        return _Fields(value) if isinstance(value, Mapping) else value

    def dict(self) -> Fields:
        return {**self}

    def model_dump(self, **_: Any) -> Fields:
        return {**self}

    def __copy__(self) -> AuthenticatedUser:
        return AuthenticatedUser(self)

    def __deepcopy__(self, memo: Memo) -> AuthenticatedUser:
        return AuthenticatedUser(copy.deepcopy(dict(self), memo))

    def __reduce__(self) -> tuple[type[AuthenticatedUser], tuple[Fields]]:
        return (AuthenticatedUser, (dict(self),))

    def __repr__(self) -> str:
        return f"AuthenticatedUser({dict(self)!r})"


class _Fields(Mapping[str, Any]):
    """A nested mapping of a user's fields, readable by key or as attributes."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._data:
            raise AttributeError(name)
        value = self._data[name]
        return _Fields(value) if isinstance(value, Mapping) else value

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def dict(self) -> Fields:
        return {**self._data}


class StudioUser(SDKStudioUser, BaseUser):
    """A user Studio authenticated with a LangSmith API key (`isinstance(u, Auth.types.StudioUser)`).

    Reads like the official server's: `dict()` is `{kind: "StudioUser", is_authenticated,
    display_name, identity, permissions[, ls_user_id]}`, and `[...]`, `get`, `in` and iteration
    go through it.
    """

    def __init__(
        self,
        username: str,
        is_authenticated: bool = False,
        permissions: Sequence[str] | None = None,
        ls_user_id: str | None = None,
    ) -> None:
        super().__init__(username, is_authenticated=is_authenticated)
        if permissions is not None:
            self._permissions = list(permissions)
        self.ls_user_id = ls_user_id

    def dict(self) -> Fields:
        user: Fields = {
            "kind": "StudioUser",
            "is_authenticated": self.is_authenticated,
            "display_name": self.display_name,
            "identity": self.identity,
            "permissions": list(self.permissions),
        }
        if self.ls_user_id is not None:
            user["ls_user_id"] = self.ls_user_id
        return user

    def model_dump(self, **_: Any) -> Fields:
        return self.dict()

    def __getitem__(self, key: str) -> Any:
        return self.dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self.dict())

    def __len__(self) -> int:
        return len(self.dict())

    def get(self, key: str, default: Any = None, /) -> Any:
        return self.dict().get(key, default)

    def keys(self) -> Any:
        return self.dict().keys()

    def values(self) -> Any:
        return self.dict().values()

    def items(self) -> Any:
        return self.dict().items()

    def __reduce__(self) -> tuple[type[StudioUser], tuple[str, bool, list[str], str | None]]:
        return (StudioUser, (self.username, self.is_authenticated, list(self.permissions), self.ls_user_id))

    def __repr__(self) -> str:
        return f"StudioUser({self.username!r})"


def user_object(user: AuthUser) -> AuthenticatedUser | StudioUser:
    """The user handlers and graphs see for an `AuthUser`."""
    if user.kind == "studio":
        ls_user_id = user.fields.get("ls_user_id")
        return StudioUser(
            user.identity,
            is_authenticated=user.is_authenticated,
            permissions=user.permissions,
            ls_user_id=ls_user_id if isinstance(ls_user_id, str) else None,
        )
    return AuthenticatedUser(
        {
            "identity": user.identity,
            "display_name": user.display_name,
            "is_authenticated": user.is_authenticated,
            **user.fields,
        }
    )


def attach_user(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with `configurable.langgraph_auth_user` (the router's `AuthUser` JSON) as a user object.

    A missing or None user, and a user that is an object already, are left as they are.
    """
    configurable = config.get("configurable")
    stored = configurable.get(CONFIG_USER_KEY) if isinstance(configurable, Mapping) else None
    if type(stored) is not dict:
        return dict(config)
    assert isinstance(configurable, Mapping)
    try:
        user: AuthenticatedUser | StudioUser = user_object(AuthUser.model_validate(stored))
    except ValidationError:
        if "identity" not in stored:
            return dict(config)
        user = AuthenticatedUser(stored)  # a bare user dict, as the official server also accepts
    return {**config, "configurable": {**configurable, CONFIG_USER_KEY: user}}


def load_auth(spec: str, base: Path) -> CustomAuth:
    """Import `auth.path`; call after the graphs are loaded (their folder is on sys.path then)."""
    try:
        value = load_object(spec, base)
    except (ImportError, FileNotFoundError, AttributeError) as exc:
        raise ValueError(f"auth.path: {exc}") from exc
    if not isinstance(value, Auth):
        raise ValueError(f"auth.path: {spec} is {type(value).__name__}, not a langgraph_sdk.Auth instance")
    return CustomAuth(value, spec)


class CustomAuth:
    """A loaded `Auth` object and the parameters its authenticate handler takes."""

    def __init__(self, auth: Auth, spec: str = "<Auth>") -> None:
        handler = auth._authenticate_handler
        if handler is None:
            raise ValueError(
                f"auth.path: the Auth object at {spec} has no @auth.authenticate handler "
                "(decorate an async function taking e.g. `authorization: str | None`)"
            )
        self.auth = auth
        self.spec = spec
        self.parameters = _parameters(handler, spec)
        self._authenticate: Callable[..., Awaitable[Any]] = (
            handler if inspect.iscoroutinefunction(handler) else _in_thread(handler)
        )

    async def authenticate(self, req: AuthenticateRequest) -> AuthenticateResult:
        scope = _scope(req)
        try:
            returned = await self._authenticate(**self._arguments(scope))
        except Auth.exceptions.HTTPException as exc:
            if exc.status_code not in (401, 403):
                raise
            return AuthenticateResult(refusal=_refusal(exc.status_code, exc.detail, exc.headers))
        except AuthenticationError as exc:
            status = 401 if getattr(exc, "status_code", None) == 401 else 403
            return AuthenticateResult(refusal=Refusal(status_code=status, detail=str(exc)))
        return AuthenticateResult(user=normalize(returned))

    def _arguments(self, scope: Scope) -> dict[str, Any]:
        headers: dict[bytes, bytes] = dict(scope["headers"])
        authorization = headers.get(b"authorization")
        available: dict[str, Callable[[], Any]] = {
            "request": lambda: Request(scope, _empty_body),
            "headers": lambda: headers,
            "authorization": lambda: authorization.decode() if authorization is not None else None,
            "path": lambda: scope["path"],
            "method": lambda: scope["method"],
            "query_params": lambda: QueryParams(scope["query_string"]),
            "path_params": lambda: scope["path_params"],
            "scope": lambda: scope,
            "scopes": lambda: [],
            "user": lambda: None,
        }
        return {name: available[name]() for name in self.parameters}

    def handler_for(self, resource: str, action: str) -> Handler | None:
        """The handler that decides (resource, action): most specific first, the last one registered."""
        handlers = self.auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action), ("*", "*")):
            if key in handlers:
                return handlers[key][-1]
        return self.auth._global_handlers[-1] if self.auth._global_handlers else None

    async def authorize(self, req: AuthorizeRequest) -> AuthorizeResult:
        handler = self.handler_for(req.resource, req.action)
        if handler is None:
            return AuthorizeResult(value=req.value, filters=None)
        ctx = AuthContext(
            user=cast(Any, user_object(req.user)),
            permissions=list(req.user.permissions),
            resource=req.resource,
            action=req.action,
        )
        value = copy.deepcopy(req.value)
        store_namespace = req.resource == "store" and isinstance(value.get("namespace"), list)
        if store_namespace:
            value["namespace"] = tuple(value["namespace"])  # what store handlers see on the official server
        try:
            result = await handler(ctx=ctx, value=value)
        except Auth.exceptions.HTTPException as exc:
            return AuthorizeResult(refusal=_refusal(exc.status_code, exc.detail, exc.headers))
        except StarletteHTTPException as exc:
            return AuthorizeResult(refusal=_refusal(exc.status_code, exc.detail, exc.headers))
        except AssertionError as exc:
            return AuthorizeResult(refusal=Refusal(status_code=403, detail=str(exc)))
        if store_namespace and isinstance(value.get("namespace"), tuple):
            value["namespace"] = list(value["namespace"])
        if result in (None, True):
            return AuthorizeResult(value=to_jsonable(value), filters=None)
        if result is False:
            return AuthorizeResult(refusal=Refusal(status_code=403, detail="Forbidden"))
        if not isinstance(result, dict):
            detail = (
                "Auth handler returned invalid result. Expected filter dict, None, or boolean. "
                f"Got {type(result)} instead."
            )
            return AuthorizeResult(refusal=Refusal(status_code=500, detail=detail))
        return AuthorizeResult(value=to_jsonable(value), filters=to_jsonable(result))


def normalize(returned: Any) -> AuthUser:
    """The `AuthUser` for what an authenticate handler returned (ValueError when it names nobody)."""
    if isinstance(returned, tuple):
        if len(returned) != 2:
            raise ValueError(f"Expected a tuple with two elements (permissions, user), got {len(returned)}")
        permissions, user = returned
    elif hasattr(returned, "permissions"):
        permissions, user = returned.permissions, returned
    elif isinstance(returned, Mapping) and "permissions" in returned:
        permissions, user = returned["permissions"], returned
    else:
        permissions, user = [], returned
    fields = _user_fields(user)
    return AuthUser(
        identity=str(fields["identity"]),
        display_name=str(fields["display_name"]),
        is_authenticated=bool(fields["is_authenticated"]),
        permissions=[str(p) for p in (permissions or [])],
        kind="user",
        fields=fields,
    )


def _user_fields(user: Any) -> dict[str, Any]:
    if isinstance(user, str):
        data: dict[str, Any] = {"identity": user}
    elif hasattr(user, "identity"):
        dump = getattr(user, "model_dump", None)
        as_dict = getattr(user, "dict", None)
        extra = dump(mode="json") if callable(dump) else as_dict() if callable(as_dict) else {}
        data = {
            "identity": user.identity,
            "is_authenticated": getattr(user, "is_authenticated", True),
            "display_name": getattr(user, "display_name", user.identity),
            **extra,
        }
    elif isinstance(user, Mapping) and "identity" in user:
        data = dict(user)
    else:
        raise ValueError(
            "Expected a user with an identity (a string, a mapping with 'identity' or an object with "
            "an `identity` property; optional: is_authenticated (default True), display_name (default "
            f"identity)). Got {type(user)} instead"
        )
    if data.get("identity") is None:
        raise ValueError("The authenticated user's identity is None")
    data.setdefault("is_authenticated", True)
    data.setdefault("display_name", data["identity"])
    fields = to_jsonable(data)
    assert isinstance(fields, dict)
    return fields


def _parameters(handler: Callable[..., Any], spec: str) -> list[str]:
    signature = inspect.signature(handler)
    unsupported = [
        name
        for name, param in signature.parameters.items()
        if name not in AUTHENTICATE_PARAMETERS and param.default is param.empty  # *args too, as official
    ]
    if unsupported:
        supported = ", ".join(f"{name} ({kind})" for name, kind in AUTHENTICATE_PARAMETERS.items())
        raise ValueError(
            f"auth.path: the authenticate handler of {spec} has unsupported required parameters: "
            f"{', '.join(unsupported)}. Supported parameters: {supported}"
        )
    return [name for name in signature.parameters if name in AUTHENTICATE_PARAMETERS]


def _in_thread(handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(**kwargs: Any) -> Any:
        return await run_in_threadpool(handler, **kwargs)

    return call


def _scope(req: AuthenticateRequest) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method.upper(),
        "scheme": "http",
        "path": req.path,
        "root_path": "",
        "query_string": _header_bytes(req.query_string),
        "headers": [(_header_bytes(name.lower()), _header_bytes(value)) for name, value in req.headers],
        "client": req.client,
        "server": None,
        "path_params": {},
    }


def _header_bytes(text: str) -> bytes:
    # ASGI servers hand headers over as bytes that the router decoded as latin-1.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


async def _empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _refusal(status: int, detail: Any, headers: Mapping[str, str] | None) -> Refusal:
    return Refusal(status_code=status, detail=str(detail), headers=dict(headers) if headers else None)
