-- A2A tasks: the runs of one assistant ($1), newest first, optionally of one thread ($2, the A2A
-- context) and of some statuses ($3). $4 narrows interrupted runs: 'cancelled' keeps those a cancel
-- ended (cancel_action set), 'paused' those waiting for input, 'any' both.

-- name: task_list
SELECT * FROM runs
WHERE assistant_id = $1 AND deployment_id = $7
  AND ($2::uuid IS NULL OR thread_id = $2)
  AND ($3::text[] IS NULL OR status = ANY($3))
  AND ($4 = 'any' OR status <> 'interrupted'
       OR ($4 = 'cancelled') = (cancel_action IS NOT NULL))
ORDER BY created_at DESC, run_id DESC
LIMIT $5 OFFSET $6

-- name: task_count
SELECT count(*) FROM runs
WHERE assistant_id = $1 AND deployment_id = $5
  AND ($2::uuid IS NULL OR thread_id = $2)
  AND ($3::text[] IS NULL OR status = ANY($3))
  AND ($4 = 'any' OR status <> 'interrupted'
       OR ($4 = 'cancelled') = (cancel_action IS NOT NULL))
