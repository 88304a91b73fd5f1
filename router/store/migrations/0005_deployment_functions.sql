-- A deployment's own function service (docs/decisions/0012): a URL, or the name of its AgentDeployment
-- (reached the way the router reaches its own: Knative Service URL or Agent Sandbox). Both NULL: the
-- router's own function target and langgraph.json (the deployment `langopen dev` or the chart set up).
ALTER TABLE deployments
    ADD COLUMN function_url text CHECK (function_url ~ '^https?://'),
    ADD COLUMN agent_deployment text CHECK (agent_deployment ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    ADD CONSTRAINT deployments_one_function CHECK (function_url IS NULL OR agent_deployment IS NULL);
