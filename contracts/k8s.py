"""Kubernetes names two deployables agree on: the AgentDeployment API (written by the operator in
`knative/`, read by the router's cluster target resolvers in `router/dispatch/`), the correlation
labels and annotations on every object LangOpen creates, and the upstream Knative Serving and Agent
Sandbox API coordinates (read through their storage versions only: a read through Agent Sandbox's
v1alpha1 would call its conversion webhook).

No I/O, constants only. Objects made for a deployment carry the AgentDeployment's own name (Knative
Service, NetworkPolicy, SandboxTemplate, SandboxWarmPool); the operator refuses names longer than
`MAX_NAME_LENGTH` so the revision and pod names Knative and Agent Sandbox derive from them stay valid.
"""

from __future__ import annotations

# --- AgentDeployment (knative/crds/agentdeployment.yaml) -------------------------------------------
GROUP = "langopen.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "AgentDeployment"
PLURAL = "agentdeployments"

MODE_FUNCTION = "function"
MODE_SANDBOX = "sandbox"
RUNTIME_GVISOR = "gvisor"
MAX_NAME_LENGTH = 52

# status fields the router reads (set by the operator)
STATUS_URL = "url"
STATUS_CONDITIONS = "conditions"
STATUS_WARM_POOL = "warmPool"
STATUS_CURRENT_IMAGE = "currentImage"
STATUS_PREVIOUS_IMAGE = "previousImage"
CONDITION_READY = "Ready"

# --- the function image (knative/image/Containerfile) ---------------------------------------------
# The operator's pods assume them (knative/settings.py defaults); the Containerfile template builds them
# (tests/k8s/test_image.py reads it and checks it uses these).
IMAGE_APP_DIR = "/app"
"""Where the image holds the app's repository (root-owned, read-only to the runtime user)."""
IMAGE_APP_CONFIG_PATH = f"{IMAGE_APP_DIR}/langgraph.json"
"""The app's langgraph.json inside the image (LANGOPEN_CONFIG)."""
IMAGE_USER_ID = 65532
"""The image's non-root `app` user and group id; function pods run as it."""
IMAGE_PORT = 8080
"""Port the function runtime listens on in the image ($PORT, Knative's default)."""

# --- labels (bounded values only: names and ids, never run or thread ids) -------------------------
LABEL_PREFIX = "langopen.dev/"
LABEL_DEPLOYMENT = "langopen.dev/deployment"
"""Name of the AgentDeployment an object belongs to; selects its pods in its NetworkPolicy."""
LABEL_DEPLOYMENT_ID = "langopen.dev/deployment-id"
LABEL_ORG_ID = "langopen.dev/org-id"
LABEL_PROJECT_ID = "langopen.dev/project-id"
LABEL_COMPONENT = "langopen.dev/component"
COMPONENT_FUNCTION = "function"
COMPONENT_SANDBOX = "sandbox"
COMPONENT_CLAIM = "sandbox-claim"
CORRELATION_LABELS = (LABEL_ORG_ID, LABEL_PROJECT_ID, LABEL_DEPLOYMENT_ID)
"""Labels copied from the AgentDeployment to every object made for it, and onto its pods."""

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_OPERATOR = "langopen-operator"
MANAGED_BY_ROUTER = "langopen-router"
LABEL_PART_OF = "app.kubernetes.io/part-of"
PART_OF = "langopen"

# --- annotations ------------------------------------------------------------------------------------
ANNOTATION_IMAGE = "langopen.dev/image"
"""The image (by digest) a generated object runs; on revision templates, so a change rolls a revision."""
ANNOTATION_ROLLBACK = "langopen.dev/rollback"
"""Set (any value) on an AgentDeployment to roll it back to `status.previousImage`; the operator
swaps `spec.image` and removes the annotation (docs/decisions/0009-agentdeployment-operator.md)."""

# --- Knative Serving (knative-v1.23.0) --------------------------------------------------------------
KNATIVE_GROUP = "serving.knative.dev"
KNATIVE_VERSION = "v1"
KNATIVE_API_VERSION = f"{KNATIVE_GROUP}/{KNATIVE_VERSION}"
KNATIVE_SERVICE_KIND = "Service"
KNATIVE_SERVICE_PLURAL = "services"
AUTOSCALING_PREFIX = "autoscaling.knative.dev/"
AUTOSCALING_MIN_SCALE = "autoscaling.knative.dev/min-scale"
AUTOSCALING_MAX_SCALE = "autoscaling.knative.dev/max-scale"
AUTOSCALING_TARGET = "autoscaling.knative.dev/target"
AUTOSCALING_METRIC = "autoscaling.knative.dev/metric"
AUTOSCALING_RETENTION = "autoscaling.knative.dev/scale-to-zero-pod-retention-period"
KNATIVE_VISIBILITY_LABEL = "networking.knative.dev/visibility"
KNATIVE_VISIBILITY_CLUSTER_LOCAL = "cluster-local"

# --- Agent Sandbox (kubernetes-sigs/agent-sandbox v0.5.6) --------------------------------------------
SANDBOX_GROUP = "agents.x-k8s.io"
SANDBOX_EXTENSIONS_GROUP = "extensions.agents.x-k8s.io"
SANDBOX_VERSION = "v1beta1"
SANDBOX_API_VERSION = f"{SANDBOX_GROUP}/{SANDBOX_VERSION}"
SANDBOX_EXTENSIONS_API_VERSION = f"{SANDBOX_EXTENSIONS_GROUP}/{SANDBOX_VERSION}"
SANDBOX_KIND = "Sandbox"
SANDBOX_PLURAL = "sandboxes"
SANDBOX_TEMPLATE_KIND = "SandboxTemplate"
SANDBOX_TEMPLATE_PLURAL = "sandboxtemplates"
SANDBOX_WARM_POOL_KIND = "SandboxWarmPool"
SANDBOX_WARM_POOL_PLURAL = "sandboxwarmpools"
SANDBOX_CLAIM_KIND = "SandboxClaim"
SANDBOX_CLAIM_PLURAL = "sandboxclaims"
SANDBOX_NAME_ANNOTATION = "agents.x-k8s.io/sandbox-name"
"""On a bound SandboxClaim: the Sandbox it was given (also `status.sandbox.name`)."""
