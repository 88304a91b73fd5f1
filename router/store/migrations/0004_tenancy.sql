-- Tenancy: organizations → projects → deployments; API keys per project; the audit log.
-- Every tenant-owned row carries its deployment. Rows that hang off a parent (runs off their
-- thread, crons and event subscriptions off their assistant, webhook deliveries off their run)
-- take the parent's deployment in a trigger, so a child can never sit in another deployment than
-- its parent. Rows without a parent (assistants, threads, event deliveries) name it explicitly:
-- their columns have no default, so a query that forgets the deployment fails instead of landing
-- in the default one. Rows that exist before this migration go to the default deployment.

CREATE TABLE organizations (
    org_id     uuid PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    project_id uuid PRIMARY KEY,
    org_id     uuid        NOT NULL REFERENCES organizations (org_id) ON DELETE RESTRICT,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_org_name UNIQUE (org_id, name)
);

-- A deployment is one langgraph.json app and its function service; `name` is what the router
-- resolves from the host (`{name}.{base domain}`) or the path prefix (`/d/{name}/…`).
CREATE TABLE deployments (
    deployment_id uuid PRIMARY KEY,
    project_id    uuid        NOT NULL REFERENCES projects (project_id) ON DELETE RESTRICT,
    name          text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    created_at    timestamptz NOT NULL DEFAULT now()
);

INSERT INTO organizations (org_id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'default');
INSERT INTO projects (project_id, org_id, name)
VALUES ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000001', 'default');
INSERT INTO deployments (deployment_id, project_id, name)
VALUES ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000001', 'default');

-- Keys are `lo_<prefix>_<secret>`; only SHA-256(secret) is kept. `prefix` is the public key id.
CREATE TABLE api_keys (
    key_id       uuid PRIMARY KEY,
    project_id   uuid        NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
    prefix       text        NOT NULL UNIQUE,
    secret_hash  bytea       NOT NULL,
    role         text        NOT NULL CHECK (role IN ('viewer', 'developer', 'operator', 'admin')),
    name         text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_project ON api_keys (project_id);

-- Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_log (
    audit_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    action        text        NOT NULL,
    outcome       text        NOT NULL DEFAULT 'ok',
    actor         text        NOT NULL,
    key_id        uuid,
    project_id    uuid,
    deployment_id uuid,
    target        text,
    client        text,
    details       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_project_at ON audit_log (project_id, at DESC);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- The deployment column on every tenant-owned table: existing rows go to the default deployment,
-- then the default is dropped.
ALTER TABLE assistants ADD COLUMN deployment_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES deployments (deployment_id);
ALTER TABLE threads ADD COLUMN deployment_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES deployments (deployment_id);
ALTER TABLE runs ADD COLUMN deployment_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES deployments (deployment_id);
ALTER TABLE crons ADD COLUMN deployment_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES deployments (deployment_id);
ALTER TABLE webhook_deliveries ADD COLUMN deployment_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES deployments (deployment_id);
ALTER TABLE event_subscriptions ADD COLUMN deployment_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES deployments (deployment_id);
ALTER TABLE event_deliveries ADD COLUMN deployment_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES deployments (deployment_id);
ALTER TABLE assistants ALTER COLUMN deployment_id DROP DEFAULT;
ALTER TABLE threads ALTER COLUMN deployment_id DROP DEFAULT;
ALTER TABLE event_deliveries ALTER COLUMN deployment_id DROP DEFAULT;

-- Children take their parent's deployment.
CREATE FUNCTION runs_take_thread_deployment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT t.deployment_id INTO STRICT NEW.deployment_id FROM threads t WHERE t.thread_id = NEW.thread_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER runs_deployment BEFORE INSERT ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_take_thread_deployment();

CREATE FUNCTION take_assistant_deployment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.deployment_id INTO STRICT NEW.deployment_id FROM assistants a
    WHERE a.assistant_id = NEW.assistant_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER crons_deployment BEFORE INSERT ON crons
    FOR EACH ROW EXECUTE FUNCTION take_assistant_deployment();
CREATE TRIGGER event_subscriptions_deployment BEFORE INSERT ON event_subscriptions
    FOR EACH ROW EXECUTE FUNCTION take_assistant_deployment();

-- A delivery outlives neither its run's insert nor its thread's: the run row exists when the
-- outcome writes the outbox row (same transaction).
CREATE FUNCTION webhook_deliveries_take_run_deployment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT coalesce(
        (SELECT r.deployment_id FROM runs r WHERE r.run_id = NEW.run_id),
        (SELECT t.deployment_id FROM threads t WHERE t.thread_id = NEW.thread_id),
        NEW.deployment_id
    ) INTO NEW.deployment_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER webhook_deliveries_deployment BEFORE INSERT ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION webhook_deliveries_take_run_deployment();

-- Indexes lead with the deployment for the tenant-facing lists and searches.
DROP INDEX runs_status_created_at;
CREATE INDEX runs_deployment_status_created_at ON runs (deployment_id, status, created_at);
CREATE INDEX runs_deployment_assistant_created_at ON runs (deployment_id, assistant_id, created_at DESC);
DROP INDEX assistants_graph_id;
DROP INDEX assistants_created_at;
CREATE INDEX assistants_deployment_graph_id ON assistants (deployment_id, graph_id);
CREATE INDEX assistants_deployment_created_at ON assistants (deployment_id, created_at DESC);
DROP INDEX threads_updated_at;
DROP INDEX threads_created_at;
DROP INDEX threads_status;
CREATE INDEX threads_deployment_updated_at ON threads (deployment_id, updated_at DESC);
CREATE INDEX threads_deployment_created_at ON threads (deployment_id, created_at DESC);
CREATE INDEX threads_deployment_status ON threads (deployment_id, status);
DROP INDEX crons_created_at;
CREATE INDEX crons_deployment_created_at ON crons (deployment_id, created_at DESC);
DROP INDEX event_subscriptions_assistant;
CREATE INDEX event_subscriptions_deployment_assistant ON event_subscriptions (deployment_id, assistant_id);
ALTER TABLE event_deliveries DROP CONSTRAINT event_deliveries_source_id;
ALTER TABLE event_deliveries ADD CONSTRAINT event_deliveries_deployment_source_id
    UNIQUE (deployment_id, source, event_id);
CREATE INDEX webhook_deliveries_deployment_run ON webhook_deliveries (deployment_id, run_id);
