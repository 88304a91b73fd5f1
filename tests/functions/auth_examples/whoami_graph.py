"""A graph whose node reports the caller it finds in `configurable["langgraph_auth_user"]`, read
the three ways LangGraph's docs show (`.identity`, `["identity"]`, `.get("identity")`)."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph_sdk import Auth
from starlette.authentication import BaseUser


class State(TypedDict, total=False):
    seen: dict[str, Any]


def who(state: State, config: RunnableConfig) -> State:
    configurable = config["configurable"]
    user = configurable["langgraph_auth_user"]
    if user is None:
        return {"seen": {"user": None}}
    return {
        "seen": {
            "attr": user.identity,
            "item": user["identity"],
            "get": user.get("identity"),
            "display_name": user.display_name,
            "base_user": isinstance(user, BaseUser),
            "studio": isinstance(user, Auth.types.StudioUser),
            "user_id": configurable.get("langgraph_auth_user_id"),
            "permissions": configurable.get("langgraph_auth_permissions"),
        }
    }


builder = StateGraph(State)
builder.add_node("who", who)
builder.add_edge(START, "who")
whoami = builder.compile()
