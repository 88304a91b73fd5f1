-- Crons: scheduled runs. The scheduler claims due rows with FOR UPDATE SKIP LOCKED and advances
-- next_run_date in the transaction that creates the tick's run, so each tick fires exactly once.

-- name: cron_insert
INSERT INTO crons (cron_id, assistant_id, thread_id, user_id, schedule, timezone, end_time, payload,
                   next_run_date, metadata, on_run_completed, enabled)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING *

-- name: cron_get
SELECT * FROM crons WHERE cron_id = $1 AND deployment_id = $2

-- name: cron_lock
SELECT * FROM crons WHERE cron_id = $1 AND deployment_id = $2 FOR UPDATE

-- name: cron_update
-- The whole mutable part at once (the service merged the patch under `cron_lock`).
UPDATE crons
SET schedule = $2, timezone = $3, end_time = $4, payload = $5, next_run_date = $6, metadata = $7,
    on_run_completed = $8, enabled = $9, updated_at = now()
WHERE cron_id = $1 AND deployment_id = $10
RETURNING *

-- name: cron_delete
DELETE FROM crons WHERE cron_id = $1 AND deployment_id = $2 RETURNING cron_id

-- name: cron_search
-- Filters: $1 assistant, $2 thread, $3 enabled, $4 metadata containment.
-- Sort: $5 column, $6 'asc'|'desc'; ties go newest first.
SELECT * FROM crons
WHERE ($1::uuid IS NULL OR assistant_id = $1::uuid)
  AND ($2::uuid IS NULL OR thread_id = $2::uuid)
  AND ($3::bool IS NULL OR enabled = $3::bool)
  AND ($4::jsonb IS NULL OR metadata @> $4::jsonb)
  AND deployment_id = $9
  AND ($10::jsonb[] IS NULL OR metadata @> ANY($10::jsonb[]))  -- custom auth's filters (router.access)
ORDER BY
    CASE WHEN $5::text = 'cron_id' AND $6::text = 'asc' THEN cron_id END ASC,
    CASE WHEN $5::text = 'cron_id' AND $6::text = 'desc' THEN cron_id END DESC,
    CASE WHEN $5::text = 'assistant_id' AND $6::text = 'asc' THEN assistant_id END ASC,
    CASE WHEN $5::text = 'assistant_id' AND $6::text = 'desc' THEN assistant_id END DESC,
    CASE WHEN $5::text = 'thread_id' AND $6::text = 'asc' THEN thread_id END ASC,
    CASE WHEN $5::text = 'thread_id' AND $6::text = 'desc' THEN thread_id END DESC,
    CASE WHEN $5::text = 'next_run_date' AND $6::text = 'asc' THEN next_run_date END ASC,
    CASE WHEN $5::text = 'next_run_date' AND $6::text = 'desc' THEN next_run_date END DESC,
    CASE WHEN $5::text = 'end_time' AND $6::text = 'asc' THEN end_time END ASC,
    CASE WHEN $5::text = 'end_time' AND $6::text = 'desc' THEN end_time END DESC,
    CASE WHEN $5::text = 'created_at' AND $6::text = 'asc' THEN created_at END ASC,
    CASE WHEN $5::text = 'created_at' AND $6::text = 'desc' THEN created_at END DESC,
    CASE WHEN $5::text = 'updated_at' AND $6::text = 'asc' THEN updated_at END ASC,
    CASE WHEN $5::text = 'updated_at' AND $6::text = 'desc' THEN updated_at END DESC,
    created_at DESC,
    cron_id DESC
LIMIT $7 OFFSET $8

-- name: cron_count
SELECT count(*) FROM crons
WHERE ($1::uuid IS NULL OR assistant_id = $1::uuid)
  AND ($2::uuid IS NULL OR thread_id = $2::uuid)
  AND ($3::jsonb IS NULL OR metadata @> $3::jsonb)
  AND deployment_id = $4
  AND ($5::jsonb[] IS NULL OR metadata @> ANY($5::jsonb[]))

-- name: cron_claim_due
-- Due ticks ($1 at most), oldest first, each locked until the claiming transaction ends; a cron
-- another replica holds is skipped, never waited for. A tick due before `end_time` still fires
-- when claimed late. `claimed_at` is the database clock at the claim.
SELECT *, now() AS claimed_at FROM crons
WHERE enabled AND next_run_date <= now() AND (end_time IS NULL OR next_run_date <= end_time)
ORDER BY next_run_date
LIMIT $1
FOR UPDATE SKIP LOCKED

-- name: cron_advance
-- After a tick: the next one. Past `end_time` it is never claimed (the row stays as it is).
UPDATE crons SET next_run_date = $2 WHERE cron_id = $1

-- name: cron_next_due
-- When the scheduler must wake next, and the database's now (its clock decides what is due).
SELECT min(next_run_date) AS next_run_date, now() AS now FROM crons
WHERE enabled AND (end_time IS NULL OR next_run_date <= end_time)
