-- Runs: creation under the thread's row lock, the dispatcher's claim, leases, outcomes, cancel.

-- name: run_create
-- langopen_create_run (migrations 0006, 0007): check the assistant read from the cache, lock or
-- create the thread, apply the multitask strategy,
-- insert the run; one row whose `result` is `created`, `busy` or `not_found`.
SELECT f.result, f.inflight, (f.run).*
FROM langopen_create_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) AS f

-- name: run_get
SELECT * FROM runs WHERE run_id = $1 AND thread_id = $2 AND deployment_id = $3

-- name: run_list
SELECT * FROM runs
WHERE thread_id = $1 AND ($2::text IS NULL OR status = $2) AND deployment_id = $5
ORDER BY created_at DESC, run_id DESC
LIMIT $3 OFFSET $4

-- name: run_claim
WITH next AS (
    SELECT r.run_id FROM runs r
    WHERE r.status = 'pending'
      AND r.available_at <= now()
      AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.thread_id = r.thread_id AND x.status = 'running')
      AND NOT EXISTS (SELECT 1 FROM runs y WHERE y.thread_id = r.thread_id AND y.status = 'pending'
                      AND y.created_at < r.created_at)
    ORDER BY r.created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE runs
SET status = 'running', attempt = runs.attempt + 1, lease_owner = $1,
    lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
FROM next
WHERE runs.run_id = next.run_id
RETURNING runs.*

-- name: run_next_available_at
-- When the next claimable run becomes available: the claim's conditions but the time. A run that
-- waits behind another run of its thread is left out (the dispatcher would spin on it); it becomes
-- claimable when that run's outcome is recorded, which wakes the dispatcher.
SELECT min(r.available_at) FROM runs r
WHERE r.status = 'pending'
  AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.thread_id = r.thread_id AND x.status = 'running')
  AND NOT EXISTS (SELECT 1 FROM runs y WHERE y.thread_id = r.thread_id AND y.status = 'pending'
                  AND y.created_at < r.created_at)

-- name: run_renew_lease
UPDATE runs SET lease_expires_at = now() + make_interval(secs => $3)
WHERE run_id = $1 AND attempt = $2 AND status = 'running'
RETURNING cancel_action

-- name: run_finish
UPDATE runs
SET status = $3, output = $4, error = $5, updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
WHERE run_id = $1 AND attempt = $2 AND status = 'running'
RETURNING *

-- name: run_thread_lock_for_outcome
-- Lock the thread before touching the run: the order run creators use.
SELECT thread_id FROM threads WHERE thread_id = $1 FOR UPDATE

-- name: run_finish_and_settle
-- langopen_finish_run (migration 0006): finish the current attempt and settle its thread, under the
-- thread lock. No row: the attempt is stale; `thread_found` false: the thread is gone.
SELECT f.thread_found, f.thread_has_pending, (f.run).*
FROM langopen_finish_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) AS f

-- name: run_requeue
-- The attempt counts as used (the next claim makes attempt + 1, which resumes from the run's last
-- checkpoint); the run is claimable again after $3 seconds.
UPDATE runs
SET status = 'pending', available_at = now() + make_interval(secs => $3), lease_owner = NULL,
    lease_expires_at = NULL, updated_at = now()
WHERE run_id = $1 AND attempt = $2 AND status = 'running'
RETURNING run_id

-- name: run_release
-- The attempt never reached a function (no connection could be made): pending again after $3
-- seconds, and the attempt it was given is handed back, since nothing ran.
UPDATE runs
SET status = 'pending', attempt = runs.attempt - 1, available_at = now() + make_interval(secs => $3),
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE run_id = $1 AND attempt = $2 AND status = 'running'
RETURNING run_id

-- name: run_expired_leases
SELECT * FROM runs
WHERE status = 'running' AND lease_expires_at < now()
ORDER BY lease_expires_at
LIMIT $1
FOR UPDATE SKIP LOCKED

-- name: run_thread_other_inflight
SELECT count(*) FROM runs WHERE thread_id = $1 AND run_id <> $2 AND status IN ('pending', 'running')

-- name: run_thread_set_outcome
UPDATE threads
SET status = $2,
    "values" = CASE WHEN $6 THEN $3::jsonb ELSE "values" END,
    interrupts = $4, error = $5, updated_at = now(), state_updated_at = now()
WHERE thread_id = $1

-- name: run_thread_set_status
UPDATE threads SET status = $2, updated_at = now() WHERE thread_id = $1

-- name: run_set_cancel_action
UPDATE runs SET cancel_action = $2, updated_at = now()
WHERE run_id = $1 AND status IN ('pending', 'running')
RETURNING *

-- name: run_cancel_pending
UPDATE runs SET status = 'interrupted', cancel_action = 'interrupt', updated_at = now(),
    output = $2
WHERE run_id = $1 AND status = 'pending'
RETURNING *

-- name: run_delete
DELETE FROM runs WHERE run_id = $1 RETURNING run_id

-- name: run_delete_thread
DELETE FROM threads WHERE thread_id = $1

-- name: run_select_for_cancel
SELECT * FROM runs
WHERE ($1::uuid IS NULL OR thread_id = $1)
  AND ($2::uuid[] IS NULL OR run_id = ANY($2))
  AND status = ANY($3::text[])
  AND deployment_id = $4
ORDER BY created_at

-- name: run_unfinished_of_assistant
SELECT thread_id, run_id FROM runs
WHERE assistant_id = $1 AND deployment_id = $2 AND status IN ('pending', 'running')
ORDER BY created_at

-- name: run_delete_checkpoints
WITH gone AS (
    DELETE FROM checkpoints
    WHERE thread_id = $1::text AND metadata ->> 'run_id' = $2::text
    RETURNING thread_id, checkpoint_ns, checkpoint_id
)
DELETE FROM checkpoint_writes w USING gone
WHERE w.thread_id = gone.thread_id AND w.checkpoint_ns = gone.checkpoint_ns
  AND w.checkpoint_id = gone.checkpoint_id

-- name: run_thread_latest_values
SELECT "values", status, interrupts, error FROM threads WHERE thread_id = $1 AND deployment_id = $2
