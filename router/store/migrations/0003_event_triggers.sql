-- CloudEvents triggers: subscriptions that map events to runs, and the events already received
-- (the idempotency record: one row per (source, id), written in the transaction that creates the
-- event's runs).

CREATE TABLE event_subscriptions (
    subscription_id    uuid PRIMARY KEY,
    assistant_id       uuid        NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
    -- filters; NULL matches anything. `*_prefix` match the start of the attribute.
    event_type         text,
    source             text,
    source_prefix      text,
    subject            text,
    subject_prefix     text,
    -- the run's input: a JSON template with {"$event": "path"} placeholders (docs/events.md)
    input              jsonb,
    -- 'stateless': a new thread per run; 'fixed': thread_id; 'subject': a thread per event subject
    thread_mode        text        NOT NULL CHECK (thread_mode IN ('stateless', 'fixed', 'subject')),
    thread_id          uuid,
    multitask_strategy text        NOT NULL DEFAULT 'enqueue'
                       CHECK (multitask_strategy IN ('reject', 'rollback', 'interrupt', 'enqueue')),
    config             jsonb       NOT NULL DEFAULT '{}',
    context            jsonb       NOT NULL DEFAULT '{}',
    metadata           jsonb       NOT NULL DEFAULT '{}',
    webhook            text,
    enabled            boolean     NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((thread_mode = 'fixed') = (thread_id IS NOT NULL)),
    CHECK (source IS NULL OR source_prefix IS NULL),
    CHECK (subject IS NULL OR subject_prefix IS NULL)
);
CREATE INDEX event_subscriptions_type ON event_subscriptions (event_type) WHERE enabled;
CREATE INDEX event_subscriptions_assistant ON event_subscriptions (assistant_id);

CREATE TABLE event_deliveries (
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    event_type   text        NOT NULL,
    subject      text,
    -- [{run_id, thread_id, subscription_id}] of the runs the event started
    runs         jsonb       NOT NULL DEFAULT '[]',
    received_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT event_deliveries_source_id UNIQUE (source, event_id)
);
CREATE INDEX event_deliveries_received_at ON event_deliveries (received_at);
