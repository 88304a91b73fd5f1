-- Crons (scheduled runs) and the webhook outbox.

CREATE TABLE crons (
    cron_id          uuid PRIMARY KEY,
    assistant_id     uuid        NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
    -- NULL: a stateless cron, each tick runs on a new thread
    thread_id        uuid        REFERENCES threads (thread_id) ON DELETE CASCADE,
    user_id          text        NOT NULL DEFAULT '',
    schedule         text        NOT NULL,
    timezone         text,
    end_time         timestamptz,
    payload          jsonb       NOT NULL,
    next_run_date    timestamptz NOT NULL,
    metadata         jsonb       NOT NULL DEFAULT '{}',
    on_run_completed text        CHECK (on_run_completed IN ('delete', 'keep')),
    enabled          boolean     NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The scheduler's claim and its "when is the next tick" question.
CREATE INDEX crons_due ON crons (next_run_date) WHERE enabled;
CREATE INDEX crons_created_at ON crons (created_at DESC);
CREATE INDEX crons_thread_id ON crons (thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX crons_metadata ON crons USING gin (metadata jsonb_path_ops);

-- One row per webhook call owed: written in the transaction that records the run's outcome.
-- No foreign key to runs: a stateless run and its thread may be gone before the call is made.
CREATE TABLE webhook_deliveries (
    delivery_id      uuid PRIMARY KEY,
    run_id           uuid        NOT NULL,
    thread_id        uuid        NOT NULL,
    url              text        NOT NULL,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    -- pending: when the next attempt may start (a claimed attempt pushes it past its own timeout)
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    last_status_code integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_run_id ON webhook_deliveries (run_id);
