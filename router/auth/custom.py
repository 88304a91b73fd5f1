"""Custom auth from langgraph.json (`auth.path`), whose handlers run in the function service
(contracts.auth, docs/decisions/0011).

`CustomAuth.authenticate` asks the function service's `@auth.authenticate` handler who is calling;
`HandlerAuthorizer` is the router.access.Authorizer of one authenticated request: it fires `@auth.on`
events there. Which requests take the studio path (an API key instead of the handler) is decided
here too, as the official server decides it for Studio and LangSmith API keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts import auth as contract
from router import errors
from router.auth.permissions import Role
from router.auth.principals import AUTH_SCHEME_HEADER, Principal
from router.dispatch.client import FunctionClient

STUDIO_IDENTITY = "langgraph-studio-user"
"""The Studio user when API-key auth is off (`langopen dev`), as the official dev server names it."""
CUSTOM_ROLE = Role.DEVELOPER
"""What a custom-auth user may do before its handlers decide: the Agent Server API, not operations."""


def refused(refusal: contract.Refusal) -> errors.AuthHandlerRefusedError:
    return errors.AuthHandlerRefusedError(refusal.status_code, refusal.detail, refusal.headers)


def takes_studio_path(section: contract.AuthSection, headers: Mapping[str, str]) -> bool:
    """Studio (`X-Auth-Scheme: langsmith`) and, with `allow_langsmith_api_keys`, requests without an
    Authorization header are checked as API keys, unless `disable_studio_auth`."""
    if section.disable_studio_auth:
        return False
    if headers.get(AUTH_SCHEME_HEADER, "").strip().lower() == contract.STUDIO_SCHEME:
        return True
    return section.allow_langsmith_api_keys and not headers.get("authorization", "").strip()


def studio_user(principal: Principal | None) -> contract.AuthUser:
    """The Studio user handlers see (`Auth.types.StudioUser`): the API key's identity with the
    `authenticated` permission, or the dev server's Studio user when keys are off."""
    if principal is None:  # the official dev server's Studio user: not authenticated, no permissions
        return contract.AuthUser(
            identity=STUDIO_IDENTITY,
            display_name=STUDIO_IDENTITY,
            is_authenticated=False,
            kind="studio",
            fields={"identity": STUDIO_IDENTITY},
        )
    return contract.AuthUser(
        identity=principal.identity,
        display_name=principal.identity,
        permissions=["authenticated"],
        kind="studio",
        fields={"identity": principal.identity},
    )


class CustomAuth:
    def __init__(self, section: contract.AuthSection, functions: FunctionClient) -> None:
        self.section = section
        self._functions = functions

    async def authenticate(
        self,
        *,
        method: str,
        path: str,
        query_string: str,
        headers: list[tuple[str, str]],
        client: tuple[str, int] | None,
    ) -> contract.AuthUser:
        request = contract.AuthenticateRequest(
            method=method, path=path, query_string=query_string, headers=headers, client=client
        )
        try:
            result = await self._functions.call(
                contract.AUTHENTICATE_REQUESTED, request, contract.AuthenticateResult
            )
        except errors.FunctionUnavailableError:
            raise
        except errors.FunctionError as exc:
            # The handler raised something other than a 401/403 HTTPException (a failing `assert`,
            # a bug): a 500, as the official server answers it; the traceback is in the function's log.
            raise errors.AuthHandlerRefusedError(500, "Internal Server Error") from exc
        if result.refusal is not None:
            raise refused(result.refusal)
        if result.user is None:
            raise errors.RouterError("the auth handler returned neither a user nor a refusal")
        return result.user

    def principal(
        self, user: contract.AuthUser, *, role: Role = CUSTOM_ROLE, base: Principal | None = None
    ) -> Principal:
        return Principal(
            identity=user.identity,
            role=base.role if base is not None else role,
            project_id=base.project_id if base is not None else None,
            key_id=base.key_id if base is not None else None,
            auth_user=user,
        )

    def authorizer(self, user: contract.AuthUser) -> HandlerAuthorizer:
        return HandlerAuthorizer(self._functions, user)


class HandlerAuthorizer:
    """router.access.Authorizer for one request a custom-auth (or Studio) user made."""

    def __init__(self, functions: FunctionClient, user: contract.AuthUser) -> None:
        self._functions = functions
        self._user = user
        self.user: dict[str, Any] = user.model_dump()

    async def check(
        self, resource: str, action: str, value: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        request = contract.AuthorizeRequest.model_validate(
            {"user": self._user, "resource": resource, "action": action, "value": value}
        )
        result = await self._functions.call(contract.AUTHORIZE_REQUESTED, request, contract.AuthorizeResult)
        if result.refusal is not None:
            raise refused(result.refusal)
        return result.value, result.filters
