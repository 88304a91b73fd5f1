-- Assistants, their versions, threads and runs. LangGraph's checkpoint and store tables are
-- created by LangGraph's own migrations (functions/checkpoints.py), in the same database.

CREATE TABLE assistants (
    assistant_id uuid PRIMARY KEY,
    graph_id     text        NOT NULL,
    config       jsonb       NOT NULL DEFAULT '{}',
    context      jsonb       NOT NULL DEFAULT '{}',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    name         text        NOT NULL,
    description  text,
    version      integer     NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assistants_graph_id ON assistants (graph_id);
CREATE INDEX assistants_created_at ON assistants (created_at DESC);

CREATE TABLE assistant_versions (
    assistant_id uuid        NOT NULL REFERENCES assistants (assistant_id) ON DELETE CASCADE,
    version      integer     NOT NULL,
    graph_id     text        NOT NULL,
    config       jsonb       NOT NULL DEFAULT '{}',
    context      jsonb       NOT NULL DEFAULT '{}',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    name         text        NOT NULL,
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assistant_id, version)
);

CREATE TABLE threads (
    thread_id        uuid PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    state_updated_at timestamptz NOT NULL DEFAULT now(),
    metadata         jsonb       NOT NULL DEFAULT '{}',
    status           text        NOT NULL DEFAULT 'idle'
                     CHECK (status IN ('idle', 'busy', 'interrupted', 'error')),
    config           jsonb       NOT NULL DEFAULT '{}',
    "values"         jsonb,
    interrupts       jsonb       NOT NULL DEFAULT '{}',
    error            jsonb,
    ttl_strategy     text        CHECK (ttl_strategy IN ('delete', 'keep_latest')),
    ttl_minutes      double precision,
    expires_at       timestamptz
);
CREATE INDEX threads_updated_at ON threads (updated_at DESC);
CREATE INDEX threads_created_at ON threads (created_at DESC);
CREATE INDEX threads_status ON threads (status);
CREATE INDEX threads_metadata ON threads USING gin (metadata jsonb_path_ops);
CREATE INDEX threads_expires_at ON threads (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE runs (
    run_id             uuid PRIMARY KEY,
    thread_id          uuid        NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    assistant_id       uuid        NOT NULL,
    graph_id           text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    status             text        NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'running', 'error', 'success', 'timeout', 'interrupted')),
    metadata           jsonb       NOT NULL DEFAULT '{}',
    kwargs             jsonb       NOT NULL DEFAULT '{}',
    multitask_strategy text        NOT NULL DEFAULT 'enqueue',
    available_at       timestamptz NOT NULL DEFAULT now(),
    attempt            integer     NOT NULL DEFAULT 0,
    lease_owner        text,
    lease_expires_at   timestamptz,
    cancel_action      text        CHECK (cancel_action IN ('interrupt', 'rollback')),
    on_completion      text        NOT NULL DEFAULT 'keep' CHECK (on_completion IN ('delete', 'keep')),
    output             jsonb,
    error              jsonb
);
CREATE INDEX runs_status_created_at ON runs (status, created_at);
CREATE INDEX runs_thread_status ON runs (thread_id, status);
CREATE INDEX runs_thread_created_at ON runs (thread_id, created_at DESC);
CREATE INDEX runs_lease_expires_at ON runs (lease_expires_at) WHERE status = 'running';
-- At most one running run per thread, whatever the dispatchers race to do.
CREATE UNIQUE INDEX runs_one_running_per_thread ON runs (thread_id) WHERE status = 'running';
