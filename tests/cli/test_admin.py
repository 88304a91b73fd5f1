"""`langopen admin …` through the command's entry point, against a freshly migrated database: what each
command prints, what it stores (only a SHA-256 digest of a key's secret), the audit-log row it writes,
and that every usage error exits non-zero naming the argument and leaves the database as it was."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import os
import re
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cli import main as cli_main

LANGOPEN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "langopen"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KEY_OUTPUT = re.compile(
    rf"key_id: (?P<key_id>{UUID})\n"
    r"key: (?P<key>lo_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43}))\n"
    r"\(store the key now: it is not shown again\)\n"
)
ACCOUNT_TABLES = ("organizations", "projects", "deployments", "api_keys", "audit_log")
DEFAULT_PROJECT_ID = "00000000-0000-0000-0000-000000000001"  # migration 0004
EXIT_ARGPARSE = 2


class Admin:
    """`langopen admin` in this process, on the database `dsn` (passed with --database-url)."""

    def __init__(self, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.dsn = dsn
        self._capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of `langopen admin --database-url DSN ARGS…`."""
        self._capsys.readouterr()
        try:
            code = cli_main.main(["admin", "--database-url", self.dsn, *args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else -1
        out, err = self._capsys.readouterr()
        return code, out, err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert (code, err) == (0, ""), (code, out, err)
        return out


def created_key(out: str) -> re.Match[str]:
    """The parts of create-key's output, which must be exactly KEY_OUTPUT."""
    found = KEY_OUTPUT.fullmatch(out)
    assert found, out
    return found


@pytest.fixture
def admin(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> Admin:
    return Admin(pg_dsn, capsys)


async def _fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def fetch(dsn: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in asyncio.run(_fetch(dsn, sql, *args))]


def one(dsn: str, sql: str, *args: Any) -> dict[str, Any]:
    rows = fetch(dsn, sql, *args)
    assert len(rows) == 1, rows
    return rows[0]


def snapshot(dsn: str) -> dict[str, list[str]]:
    """Every row of the account tables, as JSON text (bytea as hex)."""
    return {
        table: [r["row"] for r in fetch(dsn, f"SELECT row_to_json(t)::text AS row FROM {table} t ORDER BY 1")]
        for table in ACCOUNT_TABLES
    }


def audit(dsn: str) -> list[dict[str, Any]]:
    rows = fetch(dsn, "SELECT * FROM audit_log ORDER BY audit_id")
    for row in rows:
        row["details"] = json.loads(row["details"])  # asyncpg returns jsonb as text
    return rows


def assert_cli_audit(row: dict[str, Any], action: str, target: str, details: dict[str, Any]) -> None:
    assert row["action"] == action
    assert row["outcome"] == "ok"
    assert row["actor"] == f"cli:{getpass.getuser()}"
    assert row["client"] == socket.gethostname()
    assert (row["key_id"], row["project_id"], row["deployment_id"]) == (None, None, None)
    assert row["target"] == target
    assert row["details"] == details


def test_create_org_prints_its_id_stores_it_and_audits_it(admin: Admin) -> None:
    out = admin.ok("create-org", "acme")
    assert re.fullmatch(rf"{UUID}\n", out), out
    org_id = out.strip()
    assert one(admin.dsn, "SELECT org_id::text AS id FROM organizations WHERE name = 'acme'")["id"] == org_id
    [row] = audit(admin.dsn)
    assert_cli_audit(row, "org.create", "acme", {})


def test_create_project_belongs_to_the_named_org_and_is_audited(admin: Admin) -> None:
    org_id = admin.ok("create-org", "acme").strip()
    out = admin.ok("create-project", "acme", "web")
    assert re.fullmatch(rf"{UUID}\n", out), out
    row = one(admin.dsn, "SELECT project_id::text AS p, org_id::text AS o FROM projects WHERE name = 'web'")
    assert row == {"p": out.strip(), "o": org_id}
    assert_cli_audit(audit(admin.dsn)[-1], "project.create", "acme/web", {})


def test_create_deployment_belongs_to_the_named_project_and_is_audited(admin: Admin) -> None:
    out = admin.ok("create-deployment", "--project", "default", "staging")
    assert re.fullmatch(rf"{UUID}\n", out), out
    row = one(
        admin.dsn,
        "SELECT deployment_id::text AS d, project_id::text AS p FROM deployments WHERE name = $1",
        "staging",
    )
    assert row == {"d": out.strip(), "p": DEFAULT_PROJECT_ID}
    [entry] = audit(admin.dsn)
    assert_cli_audit(entry, "deployment.create", "staging", {"project_id": DEFAULT_PROJECT_ID})


@pytest.mark.parametrize(
    ("flag", "value", "column", "described"),
    [
        ("--function-url", "http://fn.acme.internal:8080", "function_url", "http://fn.acme.internal:8080"),
        ("--agent-deployment", "acme-agent", "agent_deployment", "agentdeployment/acme-agent"),
    ],
)
def test_create_deployment_with_its_own_function_service(
    admin: Admin, flag: str, value: str, column: str, described: str
) -> None:
    admin.ok("create-deployment", "--project", "default", flag, value, "acme")
    row = one(admin.dsn, f"SELECT {column} AS v FROM deployments WHERE name = $1", "acme")
    assert row == {"v": value}
    [entry] = audit(admin.dsn)
    assert_cli_audit(
        entry, "deployment.create", "acme", {"project_id": DEFAULT_PROJECT_ID, "function": described}
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--function-url", "ftp://x"], "error: --function-url: 'ftp://x' is not an http(s) URL"),
        (
            ["--agent-deployment", "Not_A_Name"],
            "error: --agent-deployment: 'Not_A_Name' is not a Kubernetes name",
        ),
        (
            ["--function-url", "http://x", "--agent-deployment", "x"],
            "error: --function-url and --agent-deployment: give at most one",
        ),
    ],
)
def test_a_bad_function_service_is_refused_naming_the_flag(
    admin: Admin, args: list[str], message: str
) -> None:
    before = snapshot(admin.dsn)
    code, out, err = admin("create-deployment", "--project", "default", *args, "acme")
    assert (code, out, err) == (1, "", message + "\n")
    assert snapshot(admin.dsn) == before


def test_create_key_prints_the_key_once_and_stores_only_its_sha256(admin: Admin) -> None:
    admin.ok("create-org", "acme")
    project_id = admin.ok("create-project", "acme", "web").strip()
    out = admin.ok("create-key", "--project", "web", "--role", "developer")
    found = created_key(out)
    key_id, key, prefix, secret = found.group("key_id", "key", "prefix", "secret")

    stored = one(admin.dsn, "SELECT * FROM api_keys")
    assert str(stored["key_id"]) == key_id
    assert str(stored["project_id"]) == project_id
    assert stored["prefix"] == prefix
    assert bytes(stored["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert (stored["role"], stored["name"]) == ("developer", "")
    assert (stored["expires_at"], stored["revoked_at"], stored["last_used_at"]) == (None, None, None)
    # Neither the secret nor the key appears in any account table, in any encoding Postgres shows.
    everything = "\n".join(line for rows in snapshot(admin.dsn).values() for line in rows)
    for needle in (key, secret, secret.encode().hex()):
        assert needle not in everything

    assert_cli_audit(
        audit(admin.dsn)[-1],
        "key.create",
        key_id,
        {"prefix": prefix, "role": "developer", "project_id": project_id},
    )


def test_create_key_takes_a_name_and_an_expiry_in_days(admin: Admin) -> None:
    before = datetime.now(UTC)
    out = admin.ok(
        "create-key", "--project", "default", "--role", "viewer", "--name", "ci", "--expires-days", "2.5"
    )
    after = datetime.now(UTC)
    found = created_key(out)
    stored = one(
        admin.dsn, "SELECT role, name, expires_at FROM api_keys WHERE key_id::text = $1", found["key_id"]
    )
    assert (stored["role"], stored["name"]) == ("viewer", "ci")
    assert before + timedelta(days=2.5) <= stored["expires_at"] <= after + timedelta(days=2.5)


def test_every_key_is_new(admin: Admin) -> None:
    first = created_key(admin.ok("create-key", "--project", "default", "--role", "admin"))
    second = created_key(admin.ok("create-key", "--project", "default", "--role", "admin"))
    assert first["prefix"] != second["prefix"]
    assert first["secret"] != second["secret"]


@pytest.mark.parametrize("by", ["key_id", "prefix"])
def test_revoke_key_by_id_or_prefix_is_audited_and_keeps_the_first_revocation_time(
    admin: Admin, by: str
) -> None:
    found = created_key(admin.ok("create-key", "--project", "default", "--role", "operator"))
    other = created_key(admin.ok("create-key", "--project", "default", "--role", "operator"))
    assert admin.ok("revoke-key", found[by]) == f"{found['key_id']}\n"
    revoked = {
        r["prefix"]: r["revoked_at"] for r in fetch(admin.dsn, "SELECT prefix, revoked_at FROM api_keys")
    }
    assert revoked[found["prefix"]] is not None
    assert revoked[other["prefix"]] is None  # only that key
    assert_cli_audit(audit(admin.dsn)[-1], "key.revoke", found["key_id"], {"prefix": found["prefix"]})

    admin.ok("revoke-key", found[by])  # again: still revoked, first time kept
    again = one(admin.dsn, "SELECT revoked_at FROM api_keys WHERE prefix = $1", found["prefix"])
    assert again["revoked_at"] == revoked[found["prefix"]]


def test_each_command_writes_exactly_one_audit_row(admin: Admin) -> None:
    commands = [
        ("create-org", "acme"),
        ("create-project", "acme", "web"),
        ("create-deployment", "--project", "web", "web-prod"),
        ("create-key", "--project", "web", "--role", "viewer"),
    ]
    for count, command in enumerate(commands, start=1):
        admin.ok(*command)
        assert len(audit(admin.dsn)) == count, command
    prefix = one(admin.dsn, "SELECT prefix FROM api_keys")["prefix"]
    admin.ok("revoke-key", prefix)
    actions = [r["action"] for r in audit(admin.dsn)]
    assert actions == ["org.create", "project.create", "deployment.create", "key.create", "key.revoke"]


UNKNOWN_KEY_ID = "0f0e0d0c-0b0a-4908-8706-050403020100"  # fixed: test ids must match across xdist workers
# (arguments, exact stderr) of errors the commands report themselves: exit 1, nothing on stdout.
COMMAND_ERRORS = [
    (["create-org", "default"], "error: an organization named 'default' exists already"),
    (
        ["create-org", ""],
        "error: organization name '': must be non-empty, without leading or trailing spaces",
    ),
    (
        ["create-project", "default", " web"],
        "error: project name ' web': must be non-empty, without leading or trailing spaces",
    ),
    (["create-project", "nosuch", "web"], "error: no organization named 'nosuch'"),
    (
        ["create-project", "default", "default"],
        "error: organization 'default' has a project named 'default' already",
    ),
    (["create-deployment", "--project", "nosuch", "web"], "error: no project named 'nosuch'"),
    (
        ["create-deployment", "--project", "default", "default"],
        "error: a deployment named 'default' exists already",
    ),
    (
        ["create-deployment", "--project", "default", "Not_A_Label"],
        "error: 'Not_A_Label' is not a valid deployment name (a DNS label)",
    ),
    (["create-key", "--project", "nosuch", "--role", "viewer"], "error: no project named 'nosuch'"),
    (["revoke-key", "nosuch"], "error: no key with id or prefix 'nosuch'"),
    (["revoke-key", UNKNOWN_KEY_ID], f"error: no key with id or prefix '{UNKNOWN_KEY_ID}'"),
]


@pytest.mark.parametrize(
    ("args", "message"), COMMAND_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_a_command_error_exits_1_names_the_culprit_and_changes_nothing(
    admin: Admin, args: list[str], message: str
) -> None:
    before = snapshot(admin.dsn)
    code, out, err = admin(*args)
    assert (code, out) == (1, ""), (code, out, err)
    assert err == message + "\n"
    assert snapshot(admin.dsn) == before


# (arguments, the argparse message naming the argument): exit 2, nothing on stdout.
USAGE_ERRORS = [
    ([], "langopen admin: error: the following arguments are required: ADMIN_COMMAND"),
    (["create-org"], "langopen admin create-org: error: the following arguments are required: name"),
    (
        ["create-project", "default"],
        "langopen admin create-project: error: the following arguments are required: name",
    ),
    (
        ["create-deployment", "web"],
        "langopen admin create-deployment: error: the following arguments are required: --project",
    ),
    (
        ["create-key", "--project", "default"],
        "langopen admin create-key: error: the following arguments are required: --role",
    ),
    (
        ["create-key", "--role", "viewer"],
        "langopen admin create-key: error: the following arguments are required: --project",
    ),
    (["revoke-key"], "langopen admin revoke-key: error: the following arguments are required: key"),
    (
        ["create-key", "--project", "default", "--role", "root"],
        "langopen admin create-key: error: argument --role: invalid choice: 'root' "
        "(choose from 'viewer', 'developer', 'operator', 'admin')",
    ),
    *[
        (
            ["create-key", "--project", "default", "--role", "viewer", f"--expires-days={days}"],
            f"langopen admin create-key: error: argument --expires-days: expected a positive number of days, "
            f"got '{days}'",
        )
        for days in ("soon", "", "0", "-1", "nan", "inf", "1e12")
    ],
]


@pytest.mark.parametrize(
    ("args", "message"), USAGE_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_a_usage_error_exits_2_names_the_argument_and_changes_nothing(
    admin: Admin, args: list[str], message: str
) -> None:
    before = snapshot(admin.dsn)
    code, out, err = admin(*args)
    assert (code, out) == (EXIT_ARGPARSE, ""), (code, out, err)
    assert err.startswith("usage: langopen admin"), err
    assert err.endswith(message + "\n"), err
    assert "Traceback" not in err
    assert snapshot(admin.dsn) == before


def test_an_ambiguous_project_name_is_an_error_naming_the_organizations(admin: Admin) -> None:
    admin.ok("create-org", "acme")
    admin.ok("create-project", "acme", "default")
    before = snapshot(admin.dsn)
    for args in (
        ["create-key", "--project", "default", "--role", "viewer"],
        ["create-deployment", "--project", "default", "x"],
    ):
        code, out, err = admin(*args)
        assert (code, out) == (1, "")
        assert err == "error: project name 'default' is ambiguous (organizations: default, acme)\n"
    assert snapshot(admin.dsn) == before


def test_admin_needs_a_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli_main.main(["admin", "create-org", "acme"]) == 1
    assert capsys.readouterr() == ("", "error: pass --database-url or set DATABASE_URL\n")


def test_admin_reads_database_url_from_the_environment(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    assert cli_main.main(["admin", "create-org", "acme"]) == 0
    assert re.fullmatch(rf"{UUID}\n", capsys.readouterr().out)
    assert one(pg_dsn, "SELECT count(*) AS n FROM organizations WHERE name = 'acme'") == {"n": 1}


def _langopen(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGOPEN_")}
    return subprocess.run(
        [str(LANGOPEN), "admin", *args],
        env={**env, "DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(180)
def test_the_installed_command_end_to_end(pg_dsn: str) -> None:
    created = _langopen(pg_dsn, "create-project", "default", "web")
    assert (created.returncode, created.stderr) == (0, ""), created
    key = _langopen(pg_dsn, "create-key", "--project", "web", "--role", "admin", "--name", "ops")
    assert (key.returncode, key.stderr) == (0, ""), key
    found = created_key(key.stdout)
    stored = one(pg_dsn, "SELECT secret_hash, role, name FROM api_keys WHERE prefix = $1", found["prefix"])
    assert bytes(stored["secret_hash"]) == hashlib.sha256(found["secret"].encode()).digest()
    assert (stored["role"], stored["name"]) == ("admin", "ops")

    before = snapshot(pg_dsn)
    refused = _langopen(pg_dsn, "create-key", "--project", "nosuch", "--role", "admin")
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1,
        "",
        "error: no project named 'nosuch'\n",
    )
    assert snapshot(pg_dsn) == before

    revoked = _langopen(pg_dsn, "revoke-key", found["prefix"])
    assert (revoked.returncode, revoked.stdout, revoked.stderr) == (0, f"{found['key_id']}\n", "")
    actions = [r["action"] for r in audit(pg_dsn)]
    assert actions == ["project.create", "key.create", "key.revoke"]
