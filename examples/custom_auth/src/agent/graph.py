"""The tutorial's chatbot without an LLM, so it runs offline: `chat` echoes the last message and
`whoami` records who called (`config["configurable"]["langgraph_auth_user"]`, the user the
`@auth.authenticate` handler returned) in `caller`."""

from typing import Any

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph


class State(MessagesState, total=False):
    caller: str


def chat(state: State) -> dict[str, Any]:
    last: AnyMessage = state["messages"][-1]
    return {"messages": [AIMessage(content=f"You said: {last.content}")]}


def whoami(state: State, config: RunnableConfig) -> dict[str, Any]:
    user = config["configurable"]["langgraph_auth_user"]
    return {"caller": user.get("identity")}


builder = StateGraph(State)
builder.add_node("chat", chat)
builder.add_node("whoami", whoami)
builder.add_edge(START, "chat")
builder.add_edge("chat", "whoami")
builder.add_edge("whoami", END)
graph = builder.compile(name="agent")
