"""Where the CRDs of the cluster tier come from.

- Upstream Knative Serving and Agent Sandbox CRDs: `$LANGOPEN_SHARED_DIR/crds/` (default
  `<repo>/../shared/crds`), copies of the upstream files with their `SOURCE.txt`; never copied into
  this repository.
- The project's own CRDs: `knative/crds/*.yaml`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_GROUPS = ("knative-serving", "agent-sandbox")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the upstream CRDs are ~1.2 MB


def shared_dir() -> Path:
    return Path(os.environ.get("LANGOPEN_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


def upstream_crd_paths() -> list[Path]:
    paths: list[Path] = []
    for group in UPSTREAM_GROUPS:
        folder = shared_dir() / "crds" / group
        found = sorted(folder.glob("*.yaml"))
        if not found:
            raise FileNotFoundError(f"no upstream CRDs in {folder} (set LANGOPEN_SHARED_DIR)")
        paths.extend(found)
    return paths


def project_crd_paths() -> list[Path]:
    return sorted((REPO_ROOT / "knative" / "crds").glob("*.yaml"))


def load_crds(paths: list[Path]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document in `paths`."""
    crds: list[dict[str, Any]] = []
    for path in paths:
        with path.open() as f:
            crds.extend(
                doc
                for doc in yaml.load_all(f, Loader=_LOADER)
                if doc and doc.get("kind") == "CustomResourceDefinition"
            )
    return crds


@functools.cache
def all_crds() -> tuple[dict[str, Any], ...]:
    """Upstream + project CRDs, parsed once per process."""
    return tuple(load_crds(upstream_crd_paths() + project_crd_paths()))
