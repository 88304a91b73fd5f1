-- Run creation checks the assistant the router read from its cache (docs/decisions/0015).
--
-- The router keeps the assistants it resolved in memory and passes the version and updated_at it
-- read. Every write of an assistant changes one of them (an update writes a new version, set_latest
-- stamps now(), a deleted and recreated assistant starts again). If the row is not exactly the one
-- the router read, nothing is written and the result is `stale_assistant`: the router reads the
-- assistant again and retries. NULLs skip the check (callers that read the assistant just before).
--
-- The 17-parameter function of migration 0006 stays, for replicas still running the code before
-- this migration during a rolling upgrade; it now calls this one without the check.

CREATE FUNCTION langopen_create_run(
    p_run_id uuid,
    p_thread_id uuid,
    p_deployment_id uuid,
    p_assistant_id uuid,
    p_graph_id text,
    p_create_thread jsonb,
    p_filters jsonb[],
    p_strategy text,
    p_meta_head jsonb,
    p_meta_tail jsonb,
    p_kwargs jsonb,
    p_config_tail jsonb,
    p_after_seconds double precision,
    p_on_completion text,
    p_thread_meta jsonb,
    p_claimed_by text,
    p_lease_seconds double precision,
    p_assistant_version integer,
    p_assistant_updated_at timestamptz
) RETURNS TABLE (result text, run runs, inflight uuid[]) LANGUAGE plpgsql AS $$
DECLARE
    v_thread_meta jsonb;
    v_inflight uuid[] := '{}';
    v_meta jsonb;
    v_owner text;
    v_run runs;
BEGIN
    IF p_assistant_version IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM assistants a
        WHERE a.assistant_id = p_assistant_id AND a.deployment_id = p_deployment_id
          AND a.graph_id = p_graph_id AND a.version = p_assistant_version
          AND a.updated_at = p_assistant_updated_at
    ) THEN
        RETURN QUERY SELECT 'stale_assistant', NULL::runs, NULL::uuid[];
        RETURN;
    END IF;
    SELECT t.metadata INTO v_thread_meta FROM threads t
    WHERE t.thread_id = p_thread_id AND t.deployment_id = p_deployment_id FOR UPDATE;
    IF NOT FOUND THEN
        IF p_create_thread IS NULL OR (p_filters IS NOT NULL AND NOT p_create_thread @> ANY (p_filters)) THEN
            RETURN QUERY SELECT 'not_found', NULL::runs, NULL::uuid[];
            RETURN;
        END IF;
        INSERT INTO threads (thread_id, metadata, status, deployment_id)
        VALUES (p_thread_id, p_create_thread, 'busy', p_deployment_id)
        ON CONFLICT (thread_id) DO NOTHING
        RETURNING metadata INTO v_thread_meta;
        IF NOT FOUND THEN  -- created concurrently: take the lock on the row that won
            SELECT t.metadata INTO v_thread_meta FROM threads t
            WHERE t.thread_id = p_thread_id AND t.deployment_id = p_deployment_id FOR UPDATE;
            IF NOT FOUND THEN  -- the id is taken in another deployment
                RETURN QUERY SELECT 'not_found', NULL::runs, NULL::uuid[];
                RETURN;
            END IF;
        END IF;
    END IF;
    IF p_filters IS NOT NULL AND NOT coalesce(v_thread_meta, '{}') @> ANY (p_filters) THEN
        RETURN QUERY SELECT 'not_found', NULL::runs, NULL::uuid[];
        RETURN;
    END IF;

    IF p_strategy <> 'enqueue' THEN
        SELECT coalesce(array_agg(r.run_id ORDER BY r.created_at), '{}') INTO v_inflight FROM runs r
        WHERE r.thread_id = p_thread_id AND r.status IN ('pending', 'running');
        IF cardinality(v_inflight) > 0 THEN
            IF p_strategy = 'reject' THEN
                RETURN QUERY SELECT 'busy', NULL::runs, v_inflight;
                RETURN;
            END IF;
            IF p_strategy IN ('interrupt', 'rollback') THEN
                UPDATE runs SET cancel_action = p_strategy, updated_at = now()
                WHERE run_id = ANY (v_inflight) AND status IN ('pending', 'running');
            END IF;
        END IF;
    END IF;

    -- Claimed at once only when nothing else of the thread is unfinished.
    IF p_claimed_by IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM runs r WHERE r.thread_id = p_thread_id AND r.status IN ('pending', 'running')
    ) THEN
        v_owner := p_claimed_by;
    END IF;

    UPDATE threads
    SET status = 'busy', metadata = metadata || p_thread_meta, updated_at = now(),
        config = config || jsonb_build_object('configurable', coalesce(config -> 'configurable', '{}'))
    WHERE thread_id = p_thread_id;

    v_meta := p_meta_head || coalesce(v_thread_meta, '{}') || p_meta_tail;
    -- clock_timestamp(), not now(): creation order is the order the thread lock was granted, which
    -- is the order runs of one thread must start in (now() is when each transaction began).
    INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, status, metadata, kwargs,
                      multitask_strategy, created_at, updated_at, available_at, on_completion,
                      attempt, lease_owner, lease_expires_at)
    VALUES (p_run_id, p_thread_id, p_assistant_id, p_graph_id,
            CASE WHEN v_owner IS NULL THEN 'pending' ELSE 'running' END,
            v_meta,
            jsonb_set(p_kwargs, '{config,metadata}',
                      coalesce(p_kwargs #> '{config,metadata}', '{}') || v_meta || p_config_tail),
            p_strategy, clock_timestamp(), clock_timestamp(),
            clock_timestamp() + make_interval(secs => p_after_seconds), p_on_completion,
            CASE WHEN v_owner IS NULL THEN 0 ELSE 1 END, v_owner,
            CASE WHEN v_owner IS NULL THEN NULL ELSE clock_timestamp() + make_interval(secs => p_lease_seconds) END)
    RETURNING * INTO v_run;
    RETURN QUERY SELECT 'created', v_run, v_inflight;
END
$$;

CREATE OR REPLACE FUNCTION langopen_create_run(
    p_run_id uuid, p_thread_id uuid, p_deployment_id uuid, p_assistant_id uuid, p_graph_id text,
    p_create_thread jsonb, p_filters jsonb[], p_strategy text, p_meta_head jsonb, p_meta_tail jsonb,
    p_kwargs jsonb, p_config_tail jsonb, p_after_seconds double precision, p_on_completion text,
    p_thread_meta jsonb, p_claimed_by text, p_lease_seconds double precision
) RETURNS TABLE (result text, run runs, inflight uuid[]) LANGUAGE sql AS $$
    SELECT * FROM langopen_create_run(
        p_run_id, p_thread_id, p_deployment_id, p_assistant_id, p_graph_id, p_create_thread, p_filters,
        p_strategy, p_meta_head, p_meta_tail, p_kwargs, p_config_tail, p_after_seconds, p_on_completion,
        p_thread_meta, p_claimed_by, p_lease_seconds, NULL::integer, NULL::timestamptz)
$$;
