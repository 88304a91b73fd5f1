-- Organizations, projects, deployments, API keys and the audit log (migration 0004).

-- name: org_insert
INSERT INTO organizations (org_id, name) VALUES ($1, $2)
ON CONFLICT (name) DO NOTHING
RETURNING *

-- name: org_by_name
SELECT * FROM organizations WHERE name = $1

-- name: project_insert
INSERT INTO projects (project_id, org_id, name) VALUES ($1, $2, $3)
ON CONFLICT ON CONSTRAINT projects_org_name DO NOTHING
RETURNING *

-- name: projects_by_name
-- Projects called $1, in any organization (names are unique per organization only).
SELECT p.*, o.name AS org_name FROM projects p JOIN organizations o USING (org_id)
WHERE p.name = $1
ORDER BY p.created_at

-- name: deployment_insert
INSERT INTO deployments (deployment_id, project_id, name, function_url, agent_deployment)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO NOTHING
RETURNING *

-- name: deployment_by_name
SELECT d.deployment_id, d.name, d.project_id, p.org_id, d.function_url, d.agent_deployment
FROM deployments d JOIN projects p USING (project_id)
WHERE d.name = $1

-- name: deployment_by_id
SELECT d.deployment_id, d.name, d.project_id, p.org_id, d.function_url, d.agent_deployment
FROM deployments d JOIN projects p USING (project_id)
WHERE d.deployment_id = $1

-- name: deployment_move
-- Give deployment $1 (by name) to project $2.
UPDATE deployments SET project_id = $2 WHERE name = $1 RETURNING *

-- name: api_key_insert
INSERT INTO api_keys (key_id, project_id, prefix, secret_hash, role, name, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING key_id, project_id, prefix, role, name, created_at, expires_at

-- name: api_key_by_prefix
-- The key with public prefix $1, with whether it can be used now.
SELECT k.*, p.org_id,
       (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())) AS usable
FROM api_keys k JOIN projects p USING (project_id)
WHERE k.prefix = $1

-- name: api_key_touch
-- Record a use, at most once per $2 seconds per key (most requests write nothing).
UPDATE api_keys SET last_used_at = now()
WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2::float8))

-- name: api_key_revoke
-- Revoke by key id or prefix ($1); an already revoked key keeps its first revocation time.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE key_id::text = $1 OR prefix = $1
RETURNING key_id, project_id, prefix, revoked_at

-- name: audit_insert
INSERT INTO audit_log (action, outcome, actor, key_id, project_id, deployment_id, target, client, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING audit_id
