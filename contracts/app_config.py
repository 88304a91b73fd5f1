"""`langgraph.json`, as the router and the function runtime both read it."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

GRAPH_SPEC = re.compile(r"^(?P<path>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$")


class AppConfig(BaseModel):
    """The subset of `langgraph.json` LangOpen acts on; unknown keys are kept and reported, not acted on."""

    model_config = ConfigDict(extra="allow")

    graphs: dict[str, str] = Field(
        min_length=1, description="graph id → `path.py:variable` or `module:variable`"
    )
    dependencies: list[str] = Field(default_factory=list)
    env: dict[str, str] | str = Field(default_factory=dict)
    python_version: str | None = None

    @field_validator("graphs")
    @classmethod
    def _check_specs(cls, graphs: dict[str, str]) -> dict[str, str]:
        for graph_id, spec in graphs.items():
            if not GRAPH_SPEC.match(spec):
                raise ValueError(f"graphs.{graph_id}: expected 'path/to/file.py:variable', got {spec!r}")
        return graphs


def load_app_config(path: Path) -> AppConfig:
    return AppConfig.model_validate_json(path.read_bytes())


def graph_ids(config: AppConfig) -> list[str]:
    return list(config.graphs)
