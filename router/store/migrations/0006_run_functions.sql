-- Run creation and outcome recording as one statement each (docs/decisions/0013).
--
-- Both take the thread's row lock first and only then read the thread's runs. In one plain SQL
-- statement that read would use the snapshot taken before the lock wait and miss a run that the
-- previous lock holder just created; in PL/pgSQL every statement takes a new snapshot, so the
-- statements after the lock see everything committed before it was granted. One call replaces the
-- BEGIN, lock, write and COMMIT round trips the router made before.

-- Create a run under its thread's lock, with the multitask strategy applied.
--   p_create_thread: the metadata of the thread to create when it does not exist (if_not_exists
--     `create`); NULL: a missing thread is `not_found`.
--   p_filters: custom auth's filters; the thread's metadata must contain one of them (NULL: none).
--   The run's metadata is p_meta_head || the thread's metadata || p_meta_tail; the same is merged
--   into p_kwargs' config.metadata, followed by p_config_tail.
--   p_claimed_by: with no other unfinished run on the thread, the run is inserted already running
--     as attempt 1 of that dispatcher, leased for p_lease_seconds.
-- result: `created` (run, and the unfinished runs the strategy flagged for cancellation), `busy`
-- (strategy `reject`, nothing written) or `not_found` (nothing written).
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
    p_lease_seconds double precision
) RETURNS TABLE (result text, run runs, inflight uuid[]) LANGUAGE plpgsql AS $$
DECLARE
    v_thread_meta jsonb;
    v_inflight uuid[] := '{}';
    v_meta jsonb;
    v_owner text;
    v_run runs;
BEGIN
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

-- Record how the current attempt of a run ended, and its effect on the thread, under the thread's
-- lock (the order run creators use). No row: the attempt is not current any more. thread_found
-- false: the thread is gone and nothing was written. thread_has_pending: a queued run of the thread
-- can start now.
CREATE FUNCTION langopen_finish_run(
    p_thread_id uuid,
    p_run_id uuid,
    p_attempt integer,
    p_status text,
    p_output jsonb,
    p_error jsonb,
    p_thread_status text,  -- used when no other run of the thread is unfinished; else `busy`
    p_set_values boolean,
    p_values jsonb,
    p_interrupts jsonb,
    p_thread_error jsonb
) RETURNS TABLE (run runs, thread_found boolean, thread_has_pending boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_run runs;
BEGIN
    PERFORM 1 FROM threads WHERE thread_id = p_thread_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::runs, false, false;
        RETURN;
    END IF;
    UPDATE runs
    SET status = p_status, output = p_output, error = p_error, updated_at = now(),
        lease_owner = NULL, lease_expires_at = NULL
    WHERE run_id = p_run_id AND attempt = p_attempt AND status = 'running'
    RETURNING * INTO v_run;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE threads t
    SET status = CASE WHEN EXISTS (SELECT 1 FROM runs r
                                   WHERE r.thread_id = p_thread_id AND r.run_id <> p_run_id
                                     AND r.status IN ('pending', 'running'))
                      THEN 'busy' ELSE p_thread_status END,
        "values" = CASE WHEN p_set_values THEN p_values ELSE t."values" END,
        interrupts = p_interrupts, error = p_thread_error, updated_at = now(), state_updated_at = now()
    WHERE t.thread_id = p_thread_id;
    RETURN QUERY SELECT v_run, true,
        EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = p_thread_id AND r.status = 'pending');
END
$$;
