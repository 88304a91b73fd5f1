-- The webhook outbox: rows are written with a run's outcome and delivered by any replica's
-- deliverer; a claim moves next_attempt_at past the attempt's timeout, so a deliverer that dies
-- mid-call leaves the row due again for another (at-least-once).

-- name: webhook_enqueue
INSERT INTO webhook_deliveries (delivery_id, run_id, thread_id, url, payload)
VALUES ($1, $2, $3, $4, $5)

-- name: webhook_claim_due
-- Up to $1 due deliveries, each hidden from other deliverers for $2 seconds, attempt counted.
WITH due AS (
    SELECT delivery_id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries w
SET attempts = w.attempts + 1, next_attempt_at = now() + make_interval(secs => $2::float8),
    updated_at = now()
FROM due
WHERE w.delivery_id = due.delivery_id
RETURNING w.*

-- name: webhook_mark_delivered
UPDATE webhook_deliveries
SET status = 'delivered', delivered_at = now(), updated_at = now(), last_status_code = $3,
    last_error = NULL
WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'

-- name: webhook_mark_failed
-- A failed attempt: retry after $5 seconds, or give up for good when $6.
UPDATE webhook_deliveries
SET status = CASE WHEN $6::bool THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => $5::float8),
    last_error = $3, last_status_code = $4, updated_at = now()
WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'

-- name: webhook_next_due
SELECT min(next_attempt_at) AS next_attempt_at, now() AS now FROM webhook_deliveries
WHERE status = 'pending'

-- name: webhook_list_for_run
SELECT * FROM webhook_deliveries WHERE run_id = $1 AND deployment_id = $2 ORDER BY created_at
