-- Threads, and the LangGraph checkpoint rows that belong to them (checkpoints, checkpoint_blobs,
-- checkpoint_writes are keyed by the thread id as text). Runs go with their thread by FK cascade.

-- name: thread_insert
-- The new thread in deployment $5, or no row when the id exists already (in any deployment).
-- $3 TTL strategy, $4 TTL in minutes.
INSERT INTO threads (thread_id, metadata, ttl_strategy, ttl_minutes, deployment_id, expires_at)
VALUES ($1, $2, $3::text, $4::float8, $5::uuid,
        CASE WHEN $4::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $4::float8 * 60) END)
ON CONFLICT (thread_id) DO NOTHING
RETURNING *

-- name: thread_get
SELECT * FROM threads WHERE thread_id = $1 AND deployment_id = $2

-- name: thread_lock
SELECT * FROM threads WHERE thread_id = $1 AND deployment_id = $2 FOR UPDATE

-- name: thread_patch
-- Merge metadata ($2); when $3, replace the TTL with strategy $4 and minutes $5 counted from now.
UPDATE threads
SET metadata = metadata || $2::jsonb,
    updated_at = now(),
    ttl_strategy = CASE WHEN $3::bool THEN $4::text ELSE ttl_strategy END,
    ttl_minutes = CASE WHEN $3::bool THEN $5::float8 ELSE ttl_minutes END,
    expires_at = CASE
        WHEN NOT $3::bool THEN expires_at
        WHEN $5::float8 IS NULL THEN NULL
        ELSE now() + make_interval(secs => $5::float8 * 60)
    END
WHERE thread_id = $1 AND deployment_id = $6
RETURNING *

-- name: thread_set_state
-- After a state update: the thread's values, pending interrupts and status ($4) follow the new
-- checkpoint, and an earlier run error no longer applies.
UPDATE threads
SET "values" = $2::jsonb, interrupts = $3::jsonb, status = $4::text, error = NULL,
    updated_at = now(), state_updated_at = now()
WHERE thread_id = $1 AND deployment_id = $5
RETURNING *

-- name: thread_ids_for_assistant
-- Threads whose metadata names the assistant (runs record it there).
SELECT thread_id FROM threads
WHERE metadata @> jsonb_build_object('assistant_id', $1::text) AND deployment_id = $2

-- name: thread_expired
-- Threads whose TTL passed ($1 at most), oldest expiry first; busy threads wait for their run.
SELECT thread_id::text AS tid, ttl_strategy, deployment_id::text AS deployment_id FROM threads
WHERE expires_at <= now() AND status <> 'busy'
ORDER BY expires_at
LIMIT $1

-- name: thread_ttl_rearm
-- The next expiry of `keep_latest` threads, one TTL from now.
UPDATE threads SET expires_at = now() + make_interval(secs => ttl_minutes * 60)
WHERE thread_id = ANY($1::uuid[]) AND ttl_minutes IS NOT NULL

-- name: thread_inflight_runs
SELECT count(*) FROM runs WHERE thread_id = $1 AND deployment_id = $2 AND status IN ('pending', 'running')

-- name: thread_latest_run
SELECT graph_id, assistant_id FROM runs WHERE thread_id = $1 AND deployment_id = $2
ORDER BY created_at DESC LIMIT 1

-- name: thread_delete_many
-- Delete threads ($1) of deployment $2 and their checkpoint rows; returns the ids that existed.
WITH gone AS (
    DELETE FROM threads WHERE thread_id = ANY($1::uuid[]) AND deployment_id = $2
    RETURNING thread_id::text AS tid
), c AS (
    DELETE FROM checkpoints WHERE thread_id IN (SELECT tid FROM gone)
), w AS (
    DELETE FROM checkpoint_writes WHERE thread_id IN (SELECT tid FROM gone)
), b AS (
    DELETE FROM checkpoint_blobs WHERE thread_id IN (SELECT tid FROM gone)
)
SELECT tid FROM gone

-- name: thread_prune_keep_latest
-- Keep each thread's newest checkpoint per namespace, its pending writes and the channel values it
-- references; delete every older checkpoint row. Returns the ids ($1) of threads that exist.
WITH mine AS (
    SELECT thread_id::text AS tid FROM threads
    WHERE thread_id::text = ANY($1::text[]) AND deployment_id = $2
), latest AS (
    SELECT DISTINCT ON (thread_id, checkpoint_ns) thread_id, checkpoint_ns, checkpoint_id, checkpoint
    FROM checkpoints
    WHERE thread_id IN (SELECT tid FROM mine)
    ORDER BY thread_id, checkpoint_ns, checkpoint_id DESC
), c AS (
    DELETE FROM checkpoints k
    WHERE k.thread_id IN (SELECT tid FROM mine)
      AND NOT EXISTS (SELECT 1 FROM latest l WHERE l.thread_id = k.thread_id
                      AND l.checkpoint_ns = k.checkpoint_ns AND l.checkpoint_id = k.checkpoint_id)
), w AS (
    DELETE FROM checkpoint_writes k
    WHERE k.thread_id IN (SELECT tid FROM mine)
      AND NOT EXISTS (SELECT 1 FROM latest l WHERE l.thread_id = k.thread_id
                      AND l.checkpoint_ns = k.checkpoint_ns AND l.checkpoint_id = k.checkpoint_id)
), b AS (
    DELETE FROM checkpoint_blobs k
    WHERE k.thread_id IN (SELECT tid FROM mine)
      AND NOT EXISTS (SELECT 1 FROM latest l WHERE l.thread_id = k.thread_id
                      AND l.checkpoint_ns = k.checkpoint_ns
                      AND l.checkpoint -> 'channel_versions' ->> k.channel = k.version)
)
SELECT thread_id::text AS tid FROM threads WHERE thread_id::text IN (SELECT tid FROM mine)

-- name: thread_copy
-- A new thread ($2) with the source's ($1) metadata, config and state; never busy, since no run of
-- the copy is in flight.
INSERT INTO threads (thread_id, metadata, config, "values", interrupts, error, status, deployment_id)
SELECT $2, metadata, config, "values", interrupts, error,
       CASE WHEN status = 'busy' THEN 'idle' ELSE status END, deployment_id
FROM threads WHERE thread_id = $1 AND deployment_id = $3
ON CONFLICT (thread_id) DO NOTHING
RETURNING *

-- name: thread_copy_checkpoints
-- Every checkpoint row of thread $1 under thread $2 (one statement: one consistent snapshot).
WITH c AS (
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,
                             checkpoint, metadata)
    SELECT $2::text, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
           CASE WHEN metadata ? 'thread_id' THEN jsonb_set(metadata, '{thread_id}', to_jsonb($2::text))
                ELSE metadata END
    FROM checkpoints WHERE thread_id = $1::text
    RETURNING 1
), b AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT $2::text, checkpoint_ns, channel, version, type, blob
    FROM checkpoint_blobs WHERE thread_id = $1::text
    RETURNING 1
), w AS (
    INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type,
                                   blob, task_path)
    SELECT $2::text, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path
    FROM checkpoint_writes WHERE thread_id = $1::text
    RETURNING 1
)
SELECT (SELECT count(*) FROM c) AS checkpoints, (SELECT count(*) FROM b) AS blobs,
       (SELECT count(*) FROM w) AS writes

-- name: thread_storage_totals
SELECT
    (SELECT count(*) FROM checkpoints WHERE thread_id = $1::text) AS checkpoint_count,
    (SELECT coalesce(sum(pg_column_size(checkpoint) + pg_column_size(metadata)), 0)
     FROM checkpoints WHERE thread_id = $1::text) AS checkpoint_bytes,
    (SELECT count(*) FROM checkpoint_writes WHERE thread_id = $1::text) AS write_count,
    (SELECT coalesce(sum(octet_length(blob)), 0) FROM checkpoint_writes WHERE thread_id = $1::text)
        AS write_bytes

-- name: thread_storage_channels
SELECT channel, count(*) AS versions, coalesce(sum(octet_length(blob)), 0) AS bytes
FROM checkpoint_blobs WHERE thread_id = $1::text
GROUP BY channel
ORDER BY channel

-- name: thread_search
-- Filters: $1 ids, $2 metadata containment, $3 values containment, $4 status, $10 any-of containment.
-- Sort: $5 column, $6 'asc'|'desc'; ties go newest first.
SELECT * FROM threads
WHERE ($1::uuid[] IS NULL OR thread_id = ANY($1::uuid[]))
  AND ($2::jsonb IS NULL OR metadata @> $2::jsonb)
  AND ($3::jsonb IS NULL OR "values" @> $3::jsonb)
  AND ($4::text IS NULL OR status = $4::text)
  AND deployment_id = $9
  AND ($10::jsonb[] IS NULL OR metadata @> ANY($10::jsonb[]))  -- custom auth's filters (router.access)
ORDER BY
    CASE WHEN $5::text = 'thread_id' AND $6::text = 'asc' THEN thread_id END ASC,
    CASE WHEN $5::text = 'thread_id' AND $6::text = 'desc' THEN thread_id END DESC,
    CASE WHEN $5::text = 'status' AND $6::text = 'asc' THEN status END ASC,
    CASE WHEN $5::text = 'status' AND $6::text = 'desc' THEN status END DESC,
    CASE WHEN $5::text = 'created_at' AND $6::text = 'asc' THEN created_at END ASC,
    CASE WHEN $5::text = 'created_at' AND $6::text = 'desc' THEN created_at END DESC,
    CASE WHEN $5::text = 'updated_at' AND $6::text = 'asc' THEN updated_at END ASC,
    CASE WHEN $5::text = 'updated_at' AND $6::text = 'desc' THEN updated_at END DESC,
    CASE WHEN $5::text = 'state_updated_at' AND $6::text = 'asc' THEN state_updated_at END ASC,
    CASE WHEN $5::text = 'state_updated_at' AND $6::text = 'desc' THEN state_updated_at END DESC,
    created_at DESC,
    thread_id DESC
LIMIT $7 OFFSET $8

-- name: thread_count
SELECT count(*) FROM threads
WHERE ($1::jsonb IS NULL OR metadata @> $1::jsonb)
  AND ($2::jsonb IS NULL OR "values" @> $2::jsonb)
  AND ($3::text IS NULL OR status = $3::text)
  AND deployment_id = $4
  AND ($5::jsonb[] IS NULL OR metadata @> ANY($5::jsonb[]))
