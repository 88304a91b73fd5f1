"""LangOpen in a Kubernetes cluster: pure builders of the objects a deployment needs (Knative Service,
NetworkPolicy, Agent Sandbox template and warm pool), the AgentDeployment operator (kopf) that applies
them, and the AgentDeployment CRD (crds/)."""
