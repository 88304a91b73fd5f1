-- Assistants and their versions. Every write of an assistant also writes the version it becomes,
-- so `assistant_versions` always holds the row an assistant can be switched back to.

-- name: assistant_insert_system
-- One system assistant per graph ($1 ids, $2 graph ids) of deployment $3; concurrent starters
-- insert each once.
WITH ins AS (
    INSERT INTO assistants (assistant_id, graph_id, config, context, metadata, name, description, version,
                            deployment_id)
    SELECT s.assistant_id, s.graph_id, '{}'::jsonb, '{}'::jsonb, '{"created_by": "system"}'::jsonb,
           s.graph_id, NULL, 1, $3::uuid
    FROM unnest($1::uuid[], $2::text[]) AS s (assistant_id, graph_id)
    ON CONFLICT (assistant_id) DO NOTHING
    RETURNING *
)
INSERT INTO assistant_versions (assistant_id, version, graph_id, config, context, metadata, name,
                                description, created_at)
SELECT assistant_id, version, graph_id, config, context, metadata, name, description, created_at FROM ins

-- name: assistant_insert
-- The new assistant, or no row when the id exists already.
WITH ins AS (
    INSERT INTO assistants (assistant_id, graph_id, config, context, metadata, name, description, version,
                            deployment_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
    ON CONFLICT (assistant_id) DO NOTHING
    RETURNING *
), ver AS (
    INSERT INTO assistant_versions (assistant_id, version, graph_id, config, context, metadata, name,
                                    description, created_at)
    SELECT assistant_id, version, graph_id, config, context, metadata, name, description, created_at FROM ins
)
SELECT * FROM ins

-- name: assistant_get
-- Only assistants of graphs this deployment serves ($2) are visible.
SELECT * FROM assistants WHERE assistant_id = $1 AND graph_id = ANY($2::text[]) AND deployment_id = $3

-- name: assistant_exists
SELECT 1 FROM assistants WHERE assistant_id = $1 AND deployment_id = $2

-- name: assistant_lock
SELECT * FROM assistants WHERE assistant_id = $1 AND deployment_id = $2 FOR UPDATE

-- name: assistant_update
-- A new version from the locked row ($1) and the given fields (NULL keeps the current value);
-- metadata ($5) is merged. Run after assistant_lock in the same transaction, so the version
-- number is read after any concurrent update committed.
WITH cur AS (
    SELECT * FROM assistants WHERE assistant_id = $1
), nv AS (
    SELECT coalesce(max(v.version), 0) + 1 AS version FROM assistant_versions v WHERE v.assistant_id = $1
), ver AS (
    INSERT INTO assistant_versions (assistant_id, version, graph_id, config, context, metadata, name,
                                    description)
    SELECT cur.assistant_id, nv.version, coalesce($2::text, cur.graph_id), coalesce($3::jsonb, cur.config),
           coalesce($4::jsonb, cur.context), cur.metadata || coalesce($5::jsonb, '{}'::jsonb),
           coalesce($6::text, cur.name), coalesce($7::text, cur.description)
    FROM cur, nv
    RETURNING *
)
UPDATE assistants a
SET graph_id = ver.graph_id, config = ver.config, context = ver.context, metadata = ver.metadata,
    name = ver.name, description = ver.description, version = ver.version, updated_at = ver.created_at
FROM ver
WHERE a.assistant_id = ver.assistant_id
RETURNING a.*

-- name: assistant_set_latest
WITH v AS (
    SELECT v.* FROM assistant_versions v JOIN assistants a USING (assistant_id)
    WHERE v.assistant_id = $1 AND v.version = $2 AND a.deployment_id = $3
)
UPDATE assistants a
SET graph_id = v.graph_id, config = v.config, context = v.context, metadata = v.metadata, name = v.name,
    description = v.description, version = v.version, updated_at = now()
FROM v
WHERE a.assistant_id = v.assistant_id
RETURNING a.*

-- name: assistant_versions
SELECT v.* FROM assistant_versions v JOIN assistants a USING (assistant_id)
WHERE v.assistant_id = $1 AND ($2::jsonb IS NULL OR v.metadata @> $2::jsonb) AND a.deployment_id = $5
ORDER BY v.version DESC
LIMIT $3 OFFSET $4

-- name: assistant_delete
DELETE FROM assistants WHERE assistant_id = $1 AND deployment_id = $2 RETURNING assistant_id

-- name: assistant_search
-- Filters: $1 served graphs, $2 graph id, $3 name substring (case-insensitive), $4 metadata
-- containment. Sort: $5 column, $6 'asc'|'desc'; names and graph ids sort case-insensitively.
SELECT * FROM assistants
WHERE graph_id = ANY($1::text[])
  AND ($2::text IS NULL OR graph_id = $2::text)
  AND ($3::text IS NULL OR strpos(lower(name), lower($3::text)) > 0)
  AND ($4::jsonb IS NULL OR metadata @> $4::jsonb)
  AND deployment_id = $9
  AND ($10::jsonb[] IS NULL OR metadata @> ANY($10::jsonb[]))  -- custom auth's filters (router.access)
ORDER BY
    CASE WHEN $5::text = 'assistant_id' AND $6::text = 'asc' THEN assistant_id END ASC,
    CASE WHEN $5::text = 'assistant_id' AND $6::text = 'desc' THEN assistant_id END DESC,
    CASE WHEN $5::text = 'graph_id' AND $6::text = 'asc' THEN lower(graph_id) END ASC,
    CASE WHEN $5::text = 'graph_id' AND $6::text = 'desc' THEN lower(graph_id) END DESC,
    CASE WHEN $5::text = 'name' AND $6::text = 'asc' THEN lower(name) END ASC,
    CASE WHEN $5::text = 'name' AND $6::text = 'desc' THEN lower(name) END DESC,
    CASE WHEN $5::text = 'created_at' AND $6::text = 'asc' THEN created_at END ASC,
    CASE WHEN $5::text = 'created_at' AND $6::text = 'desc' THEN created_at END DESC,
    CASE WHEN $5::text = 'updated_at' AND $6::text = 'asc' THEN updated_at END ASC,
    CASE WHEN $5::text = 'updated_at' AND $6::text = 'desc' THEN updated_at END DESC,
    created_at DESC,
    assistant_id
LIMIT $7 OFFSET $8

-- name: assistant_count
SELECT count(*) FROM assistants
WHERE graph_id = ANY($1::text[])
  AND ($2::text IS NULL OR graph_id = $2::text)
  AND ($3::text IS NULL OR strpos(lower(name), lower($3::text)) > 0)
  AND ($4::jsonb IS NULL OR metadata @> $4::jsonb)
  AND deployment_id = $5
  AND ($6::jsonb[] IS NULL OR metadata @> ANY($6::jsonb[]))
