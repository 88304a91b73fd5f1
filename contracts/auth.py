"""Custom auth (`auth` of `langgraph.json`): how the router and the function service agree on it.

The user's `langgraph_sdk.Auth` object is user code, so it runs only in the deployment's function
service, never in the router that serves every tenant (docs/decisions/0011). The router sends two
synchronous CloudEvents to the function service, like its other graph-dependent requests:

| request type           | payload             | reply type     | reply payload       |
|------------------------|---------------------|----------------|---------------------|
| AUTHENTICATE_REQUESTED | AuthenticateRequest | AUTHENTICATED  | AuthenticateResult  |
| AUTHORIZE_REQUESTED    | AuthorizeRequest    | AUTHORIZED     | AuthorizeResult     |

- Authenticate: the `@auth.authenticate` handler sees the request's method, path, query string and
  headers (the parameters the official server passes: `request`, `headers`, `authorization`, `path`,
  `method`, `query_params`, `path_params`, `scope`, `scopes`, `user`). Its user comes back as an
  `AuthUser`; a refusal (`Auth.exceptions.HTTPException` with 401/403) as a `Refusal`, which the
  router answers as `{"detail": ...}` with that status. Anything else the handler raises is a
  FAILED reply (500), as on the official server.
- Authorize: the most specific `@auth.on` handler for (resource, action) runs with the user and the
  value. Its answer: the value as the handler left it (handlers may add metadata, or rewrite a store
  namespace) and the filters it returned (None: no filter); `False`, a 403 HTTPException or a failed
  `assert` is a `Refusal` (403, `"Forbidden"` or the assertion's text).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AUTHENTICATE_REQUESTED = "dev.langopen.auth.authenticate.requested.v1"
AUTHENTICATED = "dev.langopen.auth.authenticated.v1"
AUTHORIZE_REQUESTED = "dev.langopen.auth.authorize.requested.v1"
AUTHORIZED = "dev.langopen.auth.authorized.v1"

STUDIO_SCHEME = "langsmith"
"""`X-Auth-Scheme: langsmith` (what Studio sends): the request takes the studio path, where LangOpen
checks an API key instead of the custom handler (unless `auth.disable_studio_auth`)."""

Resource = Literal["assistants", "threads", "crons", "store"]
Action = Literal[
    "create", "read", "update", "delete", "search", "create_run", "put", "get", "list_namespaces"
]

RESERVED_CONFIGURABLE = ("langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions")
"""Where a run's config carries its caller (set by the router, never by the client)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthSection(_Model):
    """`auth` of `langgraph.json`."""

    path: str | None = Field(default=None, description="`path/to/file.py:auth` or `module:auth`")
    disable_studio_auth: bool = Field(
        default=False, description="True: API keys (the studio path) no longer bypass the custom handler"
    )
    allow_langsmith_api_keys: bool = Field(
        default=False,
        description="also take the studio path (an API key) for requests without an Authorization header",
    )
    openapi: dict[str, Any] | None = Field(
        default=None, description="`securitySchemes` and `security` merged into /openapi.json"
    )


class AuthUser(_Model):
    """A user as the handlers returned it, in JSON: `fields` is the whole user (`user.dict()` or the
    mapping returned), `identity`/`display_name`/`is_authenticated` its BaseUser properties."""

    identity: str
    display_name: str
    is_authenticated: bool = True
    permissions: list[str] = Field(default_factory=list)
    kind: Literal["user", "studio"] = "user"
    fields: dict[str, Any] = Field(default_factory=dict)


class Refusal(_Model):
    status_code: int = Field(ge=400, le=599)
    detail: str
    headers: dict[str, str] | None = None


class AuthenticateRequest(_Model):
    method: str
    path: str
    query_string: str = ""
    headers: list[tuple[str, str]] = Field(description="as received, names lower-cased")
    client: tuple[str, int] | None = None


class AuthenticateResult(_Model):
    user: AuthUser | None = None
    refusal: Refusal | None = None


class AuthorizeRequest(_Model):
    user: AuthUser
    resource: Resource
    action: Action
    value: dict[str, Any]


class AuthorizeResult(_Model):
    value: dict[str, Any] = Field(default_factory=dict)
    filters: dict[str, Any] | None = None
    refusal: Refusal | None = None
