{{/*
What the operator does, and nothing more (tests/k8s/test_chart.py checks both directions):
- AgentDeployments: watch them (kopf), patch them (kopf's progress annotations; rollback sets
  spec.image) and their status subresource (conditions, URL, digests).
- Knative Services and Agent Sandbox warm pools: it watches them to mirror readiness into the owner,
  and creates / replaces / deletes them. SandboxTemplates and NetworkPolicies: read, create, replace,
  delete (no watch). SandboxClaims are the router's business in sandbox mode, not the operator's.
- Events: kopf posts warnings and failures about the AgentDeployment.
kopf's own needs (CRD and namespace observation) are a separate read-only ClusterRole (operator-rbac.yaml).
*/}}
{{- define "langopen.operatorRules" -}}
- apiGroups: [langopen.dev]
  resources: [agentdeployments]
  verbs: [get, list, watch, patch]
- apiGroups: [langopen.dev]
  resources: [agentdeployments/status]
  verbs: [get, patch]
- apiGroups: [serving.knative.dev]
  resources: [services]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [extensions.agents.x-k8s.io]
  resources: [sandboxwarmpools]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [extensions.agents.x-k8s.io]
  resources: [sandboxtemplates]
  verbs: [get, create, update, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, create, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/*
What the router's cluster target does (router/dispatch/knative.py, sandbox.py), and nothing more. Its
reads are a get, and its waits a get followed by a watch (kubernetes_asyncio's Watch always sends
watch=true): no plain list anywhere.
- knative: reads the AgentDeployment and waits for its Ready condition and URL (get, watch).
- sandbox: reads the AgentDeployment once for its warm pool (get); creates a SandboxClaim, waits for it
  to be bound (get, watch) and deletes it on release; waits for the bound Sandbox's host (get, watch).
*/}}
{{- define "langopen.routerRules" -}}
{{- if eq .Values.router.functionTarget "knative" -}}
- apiGroups: [langopen.dev]
  resources: [agentdeployments]
  verbs: [get, watch]
{{- else if eq .Values.router.functionTarget "sandbox" -}}
- apiGroups: [langopen.dev]
  resources: [agentdeployments]
  verbs: [get]
- apiGroups: [extensions.agents.x-k8s.io]
  resources: [sandboxclaims]
  verbs: [create, get, watch, delete]
- apiGroups: [agents.x-k8s.io]
  resources: [sandboxes]
  verbs: [get, watch]
{{- end -}}
{{- end -}}
