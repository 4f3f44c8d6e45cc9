"""The `fidelis` command, run as the operator runs it: the installed console script in a
subprocess, against the test database, while the test server serves that same database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from fidelis import cli
from tests.conftest import Server, TenantHandle, add_points, execute, upsert

_SCRIPT = Path(sys.executable).parent / "fidelis"
FIDELIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "fidelis"]


def fidelis(
    database_url: str, *args: str | bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `fidelis ARGS` with only the environment we give it (no stray FIDELIS_* settings)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FIDELIS_")}
    clean["FIDELIS_DATABASE_URL"] = database_url
    clean.update(env or {})
    return subprocess.run(
        [*FIDELIS, *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], *mentions: str) -> str:
    """The failure contract: non-zero exit, exactly one line on stderr, no traceback."""
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error:"), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


def new_slug() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def admin_program(base_url: str, auth: tuple[str, str]) -> httpx.Response:
    return httpx.get(f"{base_url}/v1/admin/program", auth=auth, timeout=30)


def program_of(tenant: TenantHandle) -> dict[str, Any]:
    response = tenant.http.get("/v1/admin/program")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["Result"]
    return result


@contextmanager
def corrupted(server: Server, break_sql: str, undo_sql: str, **params: Any) -> Iterator[None]:
    """Break the ledger behind the application's back, and always mend it afterwards."""
    assert execute(server, break_sql, **params) == 1
    try:
        yield
    finally:
        assert execute(server, undo_sql, **params) == 1


# --- tenant create -------------------------------------------------------------------------


def test_tenant_create_prints_credentials_that_work(server: Server) -> None:
    slug = new_slug()
    out = ok(
        fidelis(
            server.database_url, "tenant", "create", "--slug", slug, "--name", "Loja A", "--json"
        )
    )
    created = json.loads(out)
    assert set(created) == {"tenant", "api_token", "api_key"}
    assert created["tenant"] == slug

    response = admin_program(server.base_url, (created["api_token"], created["api_key"]))
    assert response.status_code == 200, response.text
    assert response.json()["Result"]["PointValue"] == "0.01"

    wrong = admin_program(server.base_url, (created["api_token"], created["api_key"] + "x"))
    assert wrong.status_code == 401


def test_tenant_create_without_json_shows_the_key_once(server: Server) -> None:
    out = ok(
        fidelis(server.database_url, "tenant", "create", "--slug", new_slug(), "--name", "Loja B")
    )
    assert "ApiToken" in out
    assert "ApiKey" in out


def test_duplicate_slug_is_one_line(server: Server) -> None:
    slug = new_slug()
    ok(
        fidelis(
            server.database_url, "tenant", "create", "--slug", slug, "--name", "Loja A", "--json"
        )
    )
    done = fidelis(
        server.database_url, "tenant", "create", "--slug", slug, "--name", "Outra", "--json"
    )
    one_line_error(done, slug, "already exists")
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("slug", "name", "mention"),
    [
        ("Bad Slug!", "Loja A", "slug"),
        ("UPPER", "Loja A", "slug"),
        ("-leading-hyphen", "Loja A", "slug"),
        ("x" * 64, "Loja A", "slug"),
        ("good-slug-but-blank-name", "   ", "name"),
    ],
)
def test_bad_tenant_is_one_line(server: Server, slug: str, name: str, mention: str) -> None:
    done = fidelis(server.database_url, "tenant", "create", "--slug", slug, "--name", name)
    one_line_error(done, mention)


def test_an_argument_that_is_not_utf8_is_one_line(server: Server) -> None:
    # Such bytes reach Python as lone surrogates, which no database can store or compare.
    slug = new_slug()
    name = "Loja \xff".encode("latin-1")
    done = fidelis(server.database_url, "tenant", "create", "--slug", slug, "--name", name)
    assert done.returncode == 2
    one_line_error(done, "argument 6 is not valid UTF-8")
    one_line_error(fidelis(server.database_url, "program", "show", "--tenant", slug), slug)
    lookup = fidelis(server.database_url, "program", "show", "--tenant", b"loja-\xff")
    one_line_error(lookup, "argument 4 is not valid UTF-8")


# --- keys ----------------------------------------------------------------------------------


def test_second_key_works_and_revoking_it_is_immediate(
    server: Server, tenant: TenantHandle
) -> None:
    out = ok(fidelis(server.database_url, "key", "create", "--tenant", tenant.slug, "--json"))
    second = json.loads(out)
    assert second["tenant"] == tenant.slug
    assert second["api_token"] != tenant.api_token
    second_auth = (second["api_token"], second["api_key"])
    assert admin_program(server.base_url, second_auth).status_code == 200

    out = ok(
        fidelis(server.database_url, "key", "revoke", "--tenant", tenant.slug, second["api_token"])
    )
    assert "revoked" in out
    assert admin_program(server.base_url, second_auth).status_code == 401
    # The first key is unaffected.
    assert admin_program(server.base_url, tenant.auth).status_code == 200

    # Revoking it again: nothing active to revoke.
    done = fidelis(
        server.database_url, "key", "revoke", "--tenant", tenant.slug, second["api_token"]
    )
    one_line_error(done)


def test_revoking_unknown_or_foreign_keys_is_one_line(
    server: Server, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    done = fidelis(server.database_url, "key", "revoke", "--tenant", tenant.slug, "APIUSER-nope")
    one_line_error(done)
    # Another tenant's token cannot be revoked through this tenant.
    done = fidelis(
        server.database_url, "key", "revoke", "--tenant", tenant.slug, other_tenant.api_token
    )
    one_line_error(done)
    assert admin_program(server.base_url, other_tenant.auth).status_code == 200
    assert admin_program(server.base_url, tenant.auth).status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ["key", "create", "--tenant", "no-such-tenant"],
        ["key", "revoke", "--tenant", "no-such-tenant", "APIUSER-x"],
        ["program", "show", "--tenant", "no-such-tenant"],
        ["program", "set", "--tenant", "no-such-tenant", "--point-value", "0.05"],
        ["ledger", "check", "--tenant", "no-such-tenant"],
    ],
)
def test_unknown_tenant_is_one_line(server: Server, args: list[str]) -> None:
    one_line_error(fidelis(server.database_url, *args), "no-such-tenant")


# --- program -------------------------------------------------------------------------------


def test_program_show_is_what_the_admin_api_returns(server: Server, tenant: TenantHandle) -> None:
    out = ok(fidelis(server.database_url, "program", "show", "--tenant", tenant.slug, "--json"))
    assert json.loads(out) == program_of(tenant)
    table = ok(fidelis(server.database_url, "program", "show", "--tenant", tenant.slug))
    assert "PointValue" in table
    assert "RedemptionRule.MaxPercentOfPurchase" in table


def test_program_set_changes_what_the_admin_api_returns(
    server: Server, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    before = program_of(tenant)
    out = ok(
        fidelis(
            server.database_url,
            "program",
            "set",
            "--tenant",
            tenant.slug,
            "--point-value",
            "0.05",
            "--points-expire-after-days",
            "30",
            "--max-percent-of-purchase",
            "30",
            "--json",
        )
    )
    expected = {
        **before,
        "PointValue": "0.05",
        "PointsExpireAfterDays": 30,
        "RedemptionRule": {**before["RedemptionRule"], "MaxPercentOfPurchase": "30"},
    }
    assert json.loads(out) == expected
    assert program_of(tenant) == expected
    assert program_of(other_tenant) == before

    # The next request already uses the new settings.
    upsert(tenant, "ana@example.com")
    response = add_points(tenant, "ana@example.com", 100)
    assert response.status_code == 200, response.text
    assert response.json()["Result"]["CashbackBalance"] == 5.0
    assert len(response.json()["Result"]["PointsToExpire"]) == 1

    # 0 days means "never expire".
    ok(
        fidelis(
            server.database_url,
            "program",
            "set",
            "--tenant",
            tenant.slug,
            "--points-expire-after-days",
            "0",
        )
    )
    assert program_of(tenant)["PointsExpireAfterDays"] is None


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--point-value", "-1"], "PointValue"),
        (["--point-value", "0"], "PointValue"),
        (["--point-value", "abc"], "point-value"),
        (["--point-value", "0_05"], "point-value"),
        (["--min-purchase-value", "\u0661"], "min-purchase-value"),
        (["--max-percent-of-purchase", "150"], "MaxPercentOfPurchase"),
        (["--base", "bogus"], "Base"),
        (["--points-expire-after-days", "-5"], "PointsExpireAfterDays"),
        (["--min-purchase-value", "1.001"], "MinPurchaseValue"),
        (["--default-customer-reason", "   "], "DefaultCustomerReason"),
        # A good value next to a bad one is not applied either.
        (["--point-value", "0.05", "--max-percent-of-purchase", "150"], "MaxPercentOfPurchase"),
    ],
)
def test_invalid_program_values_are_one_line_and_change_nothing(
    server: Server, tenant: TenantHandle, args: list[str], field: str
) -> None:
    before = program_of(tenant)
    done = fidelis(server.database_url, "program", "set", "--tenant", tenant.slug, *args)
    one_line_error(done, field)
    assert program_of(tenant) == before


def test_program_set_without_options_is_one_line(server: Server, tenant: TenantHandle) -> None:
    one_line_error(fidelis(server.database_url, "program", "set", "--tenant", tenant.slug))


# --- ledger check --------------------------------------------------------------------------


def test_ledger_check_finds_corruption(
    server: Server, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    upsert(tenant, "ana@example.com")
    assert add_points(tenant, "ana@example.com", 100).status_code == 200
    assert add_points(tenant, "ana@example.com", -30).status_code == 200

    out = ok(fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug))
    assert out.strip().splitlines()[-1] == (
        "checked 1 tenant(s): 2 transfers, 4 entries, 1 lots; 0 violation(s)"
    )

    with corrupted(
        server,
        "UPDATE account SET balance = balance + 1 WHERE tenant_id = :t AND kind = 'available'",
        "UPDATE account SET balance = balance - 1 WHERE tenant_id = :t AND kind = 'available'",
        t=tenant.id,
    ):
        done = fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert "cached-balance" in done.stdout
        assert "balances-match-lots" in done.stdout
        assert done.stdout.strip().splitlines()[-1].endswith("2 violation(s)")
        # Checking everything finds it too; another tenant alone is clean.
        everything = fidelis(server.database_url, "ledger", "check")
        assert everything.returncode == 1
        assert f"tenant={tenant.id} cached-balance" in everything.stdout
        ok(fidelis(server.database_url, "ledger", "check", "--tenant", other_tenant.slug))

    ok(fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug))

    with corrupted(
        server,
        "UPDATE lot SET remaining = remaining - 1 WHERE tenant_id = :t",
        "UPDATE lot SET remaining = remaining + 1 WHERE tenant_id = :t",
        t=tenant.id,
    ):
        done = fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "lot-remaining" in done.stdout
        assert "balances-match-lots" in done.stdout
        assert "cached-balance" not in done.stdout

    ok(fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug))

    # The history's copy of a lot's expiry, on the credit and on the debit (which has no lot).
    for points in (100, -30):
        with corrupted(
            server,
            "UPDATE transfer SET expires_at = created_at WHERE tenant_id = :t AND points = :p",
            "UPDATE transfer SET expires_at = NULL WHERE tenant_id = :t AND points = :p",
            t=tenant.id,
            p=points,
        ):
            done = fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "transfer-expiry" in done.stdout
            assert done.stdout.strip().splitlines()[-1].endswith("1 violation(s)")

    ok(fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug))

    # Owing points while having some to spend (points that come back pay off debt first).
    with corrupted(
        server,
        "INSERT INTO account (tenant_id, customer_id, kind, balance) SELECT tenant_id, "
        "customer_id, 'debt', -5 FROM account WHERE tenant_id = :t AND kind = 'available'",
        "DELETE FROM account WHERE tenant_id = :t AND kind = 'debt'",
        t=tenant.id,
    ):
        done = fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "debt-paid-first" in done.stdout
        assert "owes 5 points and has 70 available" in done.stdout
        assert done.stdout.strip().splitlines()[-1].endswith("2 violation(s)")

    ok(fidelis(server.database_url, "ledger", "check", "--tenant", tenant.slug))


# --- configuration and help ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FIDELIS_PORT": "abc"}, "FIDELIS_PORT"),
        ({"FIDELIS_PORT": "70000"}, "FIDELIS_PORT"),
        ({"FIDELIS_DATABASE_URL": "mysql://x"}, "FIDELIS_DATABASE_URL"),
        ({"FIDELIS_WORKERS": "0"}, "FIDELIS_WORKERS"),
        ({"FIDELIS_LOG_LEVEL": "loud"}, "FIDELIS_LOG_LEVEL"),
    ],
)
def test_bad_environment_is_one_line_naming_the_variable(
    server: Server, env: dict[str, str], variable: str
) -> None:
    one_line_error(fidelis(server.database_url, "migrate", env=env), variable)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "0"], "--port"),
        (["--workers", "0"], "--workers"),
        (["--workers", "65"], "--workers"),
    ],
)
def test_bad_serve_options_are_one_line_naming_the_option(
    server: Server, args: list[str], option: str
) -> None:
    # Refused before anything starts, by the rules of the settings they stand for.
    one_line_error(fidelis(server.database_url, "serve", *args), f"invalid {option}:")


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        (["serve", "--port", "abc"], "'--port'"),
        (["tenant", "create", "--slug", "x"], "'--name'"),
        (["customers", "import", "--tenant", "a", "--batch-size", "0", "f.csv"], "--batch-size"),
        (["jobs", "run", "--once", "--interval", "abc"], "'--interval'"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_what_the_parser_refuses_is_one_line_too(
    server: Server, args: list[str], mention: str
) -> None:
    done = fidelis(server.database_url, *args)
    one_line_error(done, "error: ")
    assert mention in done.stderr
    assert done.returncode == 2  # a usage error


@pytest.mark.parametrize("args", [[], ["tenant"], ["jobs"]])
def test_a_group_without_its_command_shows_its_help_and_no_error(
    server: Server, args: list[str]
) -> None:
    done = fidelis(server.database_url, *args)
    assert done.returncode == 2
    assert "Usage" in done.stdout + done.stderr
    assert "error:" not in done.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'fidelis.db'}"
    one_line_error(fidelis(url, "migrate"))


def test_migrate_is_a_no_op_on_a_current_database(server: Server) -> None:
    assert "latest migration" in ok(fidelis(server.database_url, "migrate"))


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--help"], ["serve", "migrate", "tenant", "key", "program", "ledger", "jobs"]),
        (["ledger", "check", "--help"], ["--tenant"]),
        (["tenant", "create", "--help"], ["--slug", "--name", "--json"]),
        (["key", "revoke", "--help"], ["token", "--tenant"]),
        (["program", "set", "--help"], ["--point-value", "--max-percent-of-purchase", "--base"]),
        (["serve", "--help"], ["--host", "--port", "--workers"]),
    ],
)
def test_help(server: Server, args: list[str], mentions: list[str]) -> None:
    # Wide enough that the help tables do not wrap option names.
    out = ok(fidelis(server.database_url, *args, env={"COLUMNS": "200"}))
    for mention in mentions:
        assert mention in out


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under `group` (Typer's own Click objects), by its words."""
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if hasattr(command, "commands"):
            found += command_paths(command, (*prefix, name))
    return found


def test_every_command_has_help() -> None:
    paths = command_paths(typer.main.get_command(cli.app))
    assert ("customers", "import") in paths
    assert ("report", "liability") in paths
    runner = CliRunner()
    for path in paths:
        done = runner.invoke(
            cli.app, [*path, "--help"], prog_name="fidelis", env={"COLUMNS": "200"}
        )
        assert done.exit_code == 0, (path, done.output)
        assert f"Usage: fidelis {' '.join(path)}" in done.output, (path, done.output)


def test_a_served_app_keeps_what_it_built_out_of_the_collectors_walk(tmp_path: Path) -> None:
    """`fidelis serve` builds each worker's app with `create_app_from_env`: what that built
    is frozen, so a full collection walks a small remainder instead of every module, route
    and schema (an 80 ms pause of every request in flight)."""
    probe = (
        "import gc, json\n"
        "from fidelis.app import create_app_from_env\n"
        "create_app_from_env()\n"
        "print(json.dumps([gc.get_freeze_count(), len(gc.get_objects())]))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FIDELIS_")}
    clean["FIDELIS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'probe.db'}"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=clean, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    frozen, walked = json.loads(done.stdout.splitlines()[-1])
    assert frozen > 10_000
    assert walked < frozen // 20
