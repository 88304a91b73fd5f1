-- Run creation checks the assistant the router read from its cache (docs/decisions/0015).
--
-- The router keeps the assistants it resolved in memory and passes the version and updated_at it
-- read. Every write of an assistant changes one of them (an update writes a new version, set_latest
-- stamps now(), a deleted and recreated assistant starts again). If the row is not exactly the one
-- the router read, nothing is written and the result is `stale_assistant`: the router reads the
-- assistant again and retries. NULLs skip the check (callers that read the assistant just before).
-- Everything else is the 17-parameter function of migration 0006, which stays as it is (replicas
-- still running the code before this migration call it during a rolling upgrade).

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
    RETURN QUERY SELECT * FROM langopen_create_run(
        p_run_id, p_thread_id, p_deployment_id, p_assistant_id, p_graph_id, p_create_thread, p_filters,
        p_strategy, p_meta_head, p_meta_tail, p_kwargs, p_config_tail, p_after_seconds, p_on_completion,
        p_thread_meta, p_claimed_by, p_lease_seconds);
END
$$;
