-- Runs: creation under the thread's row lock, the dispatcher's claim, leases, outcomes, cancel.

-- name: run_thread_lock
-- Lock the thread: creators of runs on one thread queue here. Unfinished runs are read by the next
-- statements (run_inflight_for_thread, the claim in run_insert), whose snapshot is taken after the
-- lock is granted (a subquery here would use a snapshot from before the wait, and miss a run that
-- the previous lock holder just created).
SELECT thread_id, metadata, status FROM threads WHERE thread_id = $1 AND deployment_id = $2 FOR UPDATE

-- name: run_inflight_for_thread
SELECT run_id FROM runs
WHERE thread_id = $1 AND status IN ('pending', 'running')
ORDER BY created_at

-- name: run_thread_insert
INSERT INTO threads (thread_id, metadata, status, deployment_id) VALUES ($1, $2, 'busy', $3)
ON CONFLICT (thread_id) DO NOTHING
RETURNING thread_id, metadata, status

-- name: run_insert
-- The run, and its thread marked busy with the run's graph and assistant in its metadata.
WITH thread AS (
    UPDATE threads
    SET status = 'busy', metadata = metadata || $10::jsonb, updated_at = now(),
        config = config || jsonb_build_object('configurable', coalesce(config -> 'configurable', '{}'))
    WHERE thread_id = $2
), claim AS (
    -- With an owner ($11) and no other unfinished run of the thread, the run is inserted already
    -- claimed by that dispatcher (attempt 1, leased for $12 seconds): the creator dispatches it
    -- itself, saving the claim's round trip. The caller holds the thread lock, so this statement's
    -- snapshot sees every run created before this one.
    SELECT CASE WHEN EXISTS (SELECT 1 FROM runs WHERE thread_id = $2 AND status IN ('pending', 'running'))
                THEN NULL ELSE $11::text END AS owner
)
-- clock_timestamp(), not now(): creation order is the order the thread lock was granted, which is
-- the order runs of one thread must start in (now() is when each transaction began).
INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, status, metadata, kwargs,
                  multitask_strategy, created_at, updated_at, available_at, on_completion,
                  attempt, lease_owner, lease_expires_at)
VALUES ($1, $2, $3, $4, CASE WHEN (SELECT owner FROM claim) IS NULL THEN 'pending' ELSE 'running' END,
        $5, $6, $7, clock_timestamp(), clock_timestamp(), clock_timestamp() + make_interval(secs => $8), $9,
        CASE WHEN (SELECT owner FROM claim) IS NULL THEN 0 ELSE 1 END, (SELECT owner FROM claim),
        CASE WHEN (SELECT owner FROM claim) IS NULL THEN NULL
             ELSE clock_timestamp() + make_interval(secs => $12) END)
RETURNING *

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
-- Finish the current attempt and record its effect on the thread, in one statement (after the thread
-- lock, so the check for other unfinished runs sees every run created before it). `thread_has_pending`
-- tells whether a queued run of the thread can start now.
WITH fin AS (
    UPDATE runs
    SET status = $3, output = $4, error = $5, updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
    WHERE run_id = $1 AND attempt = $2 AND status = 'running'
    RETURNING *
), thread AS (
    UPDATE threads t
    SET status = CASE WHEN EXISTS (SELECT 1 FROM runs r
                                   WHERE r.thread_id = fin.thread_id AND r.run_id <> fin.run_id
                                     AND r.status IN ('pending', 'running'))
                      THEN 'busy' ELSE $6 END,
        "values" = CASE WHEN $7 THEN $8::jsonb ELSE t."values" END,
        interrupts = $9, error = $10, updated_at = now(), state_updated_at = now()
    FROM fin
    WHERE t.thread_id = fin.thread_id
)
SELECT fin.*, EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = fin.thread_id AND r.status = 'pending')
       AS thread_has_pending
FROM fin

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
