-- CloudEvents triggers: subscriptions (CRUD, matching an event) and received events (idempotency).

-- name: event_subscription_insert
INSERT INTO event_subscriptions (subscription_id, assistant_id, event_type, source, source_prefix, subject,
                                 subject_prefix, input, thread_mode, thread_id, multitask_strategy, config,
                                 context, metadata, webhook, enabled)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING *

-- name: event_subscription_get
SELECT * FROM event_subscriptions WHERE subscription_id = $1 AND deployment_id = $2

-- name: event_subscription_lock
SELECT * FROM event_subscriptions WHERE subscription_id = $1 AND deployment_id = $2 FOR UPDATE

-- name: event_subscription_update
-- The whole mutable part at once (the service merged the patch under `event_subscription_lock`).
UPDATE event_subscriptions
SET assistant_id = $2, event_type = $3, source = $4, source_prefix = $5, subject = $6, subject_prefix = $7,
    input = $8, thread_mode = $9, thread_id = $10, multitask_strategy = $11, config = $12, context = $13,
    metadata = $14, webhook = $15, enabled = $16, updated_at = now()
WHERE subscription_id = $1 AND deployment_id = $17
RETURNING *

-- name: event_subscription_delete
DELETE FROM event_subscriptions WHERE subscription_id = $1 AND deployment_id = $2
RETURNING subscription_id

-- name: event_subscription_list
-- $1 assistant filter (NULL: all); newest first.
SELECT * FROM event_subscriptions
WHERE ($1::uuid IS NULL OR assistant_id = $1::uuid) AND deployment_id = $4
ORDER BY created_at DESC, subscription_id DESC
LIMIT $2 OFFSET $3

-- name: event_subscription_match
-- Enabled subscriptions whose filters all accept the event ($1 type, $2 source, $3 subject, NULL if
-- absent); a 'subject' thread mode needs a subject. Ordered by id: runs are created in this order.
SELECT * FROM event_subscriptions
WHERE enabled AND deployment_id = $4
  AND (event_type IS NULL OR event_type = $1)
  AND (source IS NULL OR source = $2)
  AND (source_prefix IS NULL OR starts_with($2, source_prefix))
  AND (subject IS NULL OR subject = $3)
  AND (subject_prefix IS NULL OR starts_with($3, subject_prefix))
  AND (thread_mode <> 'subject' OR $3::text IS NOT NULL)
ORDER BY subscription_id

-- name: event_delivery_claim
-- First sight of (source, id) inserts and returns a row; a repeat returns nothing (a concurrent
-- first sight is waited for: the unique constraint holds the second insert until the first ends).
INSERT INTO event_deliveries (source, event_id, event_type, subject, deployment_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT event_deliveries_deployment_source_id DO NOTHING
RETURNING source

-- name: event_delivery_get
SELECT * FROM event_deliveries WHERE source = $1 AND event_id = $2 AND deployment_id = $3

-- name: event_delivery_set_runs
UPDATE event_deliveries SET runs = $3 WHERE source = $1 AND event_id = $2 AND deployment_id = $4
