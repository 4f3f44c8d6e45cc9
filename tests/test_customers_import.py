"""`fidelis customers import`: run as the operator runs it (the console script in a subprocess)
against the test database while the test server serves it, and checked through the API.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from fidelis.db.engine import Database
from fidelis.importer.service import opening_key
from tests.conftest import Server, TenantHandle, points_of, run_async, upsert
from tests.test_cli import FIDELIS, new_slug, ok, one_line_error

HEADER = "original_id,name,email,phone,document,birthday_date,signup_date,points,reason\n"
# Valid check digits.
CPF_ANA, CPF_BRUNO, CNPJ_LOJA = "296.866.522-72", "06626463047", "04.979.810/6155-70"


def cpf(base: int) -> str:
    """A CPF with valid check digits for any 9-digit base."""
    digits = [int(c) for c in f"{base:09d}"]
    for weight in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight, 1, -1), strict=False))
        rest = total * 10 % 11
        digits.append(0 if rest == 10 else rest)
    return "".join(map(str, digits))


def run_import(
    server: Server, slug: str, path: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELIS_")}
    env["FIDELIS_DATABASE_URL"] = server.database_url
    return subprocess.run(
        [*FIDELIS, "customers", "import", "--tenant", slug, str(path), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summary(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stdout.splitlines() if " row(s) in " in line]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


def query(server: Server, sql: str, **params: Any) -> list[Any]:
    async def work(db: Database) -> list[Any]:
        async with db.read() as conn:
            return list(await conn.execute(text(sql), params))

    return run_async(server.database_url, work)


def customer_row(server: Server, tenant: TenantHandle, original_id: str) -> Any:
    rows = query(
        server,
        "SELECT name, email, phone, document, birthday_date, signup_date, updated_at, is_enabled"
        " FROM customer WHERE tenant_id = :t AND original_id = :o",
        t=tenant.id,
        o=original_id,
    )
    return rows[0] if rows else None


def transfer_count(server: Server, tenant: TenantHandle) -> int:
    rows = query(server, "SELECT COUNT(*) FROM transfer WHERE tenant_id = :t", t=tenant.id)
    return int(rows[0][0])


def write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body, encoding="utf-8")
    return path


# --- the good file --------------------------------------------------------------------------


def test_a_good_file_lands_and_a_rerun_changes_nothing(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    csv = write(
        tmp_path / "customers.csv",
        f"ana@example.com,Ana Souza,Ana@Example.com,+55 11 98765-4321,{CPF_ANA},1990-05-17,"
        "2023-01-10,1500,Saldo do programa anterior\n"
        f"bruno-0042,Bruno Lima,bruno@example.com,,{CPF_BRUNO},17/08/1985,,0,\n"
        f'loja-7,"Parceira Comércio, Ltda.",,,{CNPJ_LOJA},,,250000,\n'
        "carla@example.com,Carla Dias,,,,,,,\n",
    )
    done = run_import(server, tenant.slug, csv)
    ok(done)
    assert "created 4, updated 0, unchanged 0, errors 0" in summary(done)
    assert "opening balances credited 2 (251500 points)" in summary(done)

    # Every rule of the upsert applied: documents stored as digits, e-mail found in any case.
    ana = customer_row(server, tenant, "ana@example.com")
    assert (ana.name, ana.email, ana.document) == ("Ana Souza", "Ana@Example.com", "29686652272")
    assert customer_row(server, tenant, "loja-7").document == "04979810615570"
    assert points_of(tenant, "ana@example.com")["PointsBalance"] == 1500
    assert points_of(tenant, CPF_ANA)["PointsBalance"] == 1500
    assert points_of(tenant, "loja-7")["PointsBalance"] == 250000
    assert points_of(tenant, "bruno-0042")["PointsBalance"] == 0
    history = points_of(tenant, "ana@example.com")["PointHistory"]
    assert [h["Points"] for h in history] == [1500]

    before = {o: customer_row(server, tenant, o) for o in ("ana@example.com", "loja-7")}
    transfers = transfer_count(server, tenant)
    again = run_import(server, tenant.slug, csv)
    ok(again)
    assert "created 0, updated 0, unchanged 4, errors 0" in summary(again)
    assert "opening balances credited 0 (0 points)" in summary(again)
    assert transfer_count(server, tenant) == transfers
    assert {o: customer_row(server, tenant, o) for o in before} == before  # not even updated_at
    assert points_of(tenant, "ana@example.com")["PointsBalance"] == 1500


def test_the_progress_bar_and_the_sample_file(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    sample = Path(__file__).resolve().parents[1] / "docs" / "customers-sample.csv"
    done = run_import(server, tenant.slug, sample)
    ok(done)
    assert "importing" in done.stdout
    assert "100%" in done.stdout
    assert "errors 0" in summary(done)


def test_an_import_updates_customers_the_api_created_and_credits_them_once(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    upsert(tenant, "dora", Name="Dora", Email="dora@example.com")
    first = write(tmp_path / "a.csv", "dora,Dora Maria,,,,,,300,\n")
    assert "updated 1" in summary(run_import(server, tenant.slug, first))
    assert customer_row(server, tenant, "dora").email == "dora@example.com"  # empty cell: kept
    assert points_of(tenant, "dora")["PointsBalance"] == 300

    # An edited copy of the file (another name, another amount) updates the customer but never
    # credits the opening balance again: the ChangeKey depends on the customer, not the file.
    edited = write(tmp_path / "b.csv", "dora,Dora M. Silva,,,,,,900,\n")
    done = run_import(server, tenant.slug, edited)
    assert "updated 1" in summary(done)
    assert "opening balances credited 0" in summary(done)
    assert points_of(tenant, "dora")["PointsBalance"] == 300
    assert customer_row(server, tenant, "dora").name == "Dora M. Silva"

    # The key is the one the docs promise, so an operator can find it in the ledger.
    rows = query(
        server,
        "SELECT change_key FROM transfer WHERE tenant_id = :t AND change_key IS NOT NULL",
        t=tenant.id,
    )
    assert [r[0] for r in rows] == [opening_key("dora")] == ["import:dora:opening"]


def test_opening_balances_are_per_tenant(
    server: Server, tenant: TenantHandle, other_tenant: TenantHandle, tmp_path: Path
) -> None:
    csv = write(tmp_path / "c.csv", "eva,Eva,,,,,,100,\n")
    ok(run_import(server, tenant.slug, csv))
    ok(run_import(server, other_tenant.slug, csv))
    assert points_of(tenant, "eva")["PointsBalance"] == 100
    assert points_of(other_tenant, "eva")["PointsBalance"] == 100


# --- bad rows -------------------------------------------------------------------------------


def test_bad_rows_are_reported_by_line_and_skipped_and_good_rows_land(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    upsert(tenant, "off", Name="Off")
    response = tenant.http.post(
        "/v1/pvt/Customer/off/changestatus", json={"IsEnabled": False, "Reason": "fraude"}
    )
    assert response.status_code == 200, response.text
    csv = write(
        tmp_path / "mixed.csv",
        "good-1,Good One,good1@example.com,,,,,10,\n"  # line 2
        "bad-cpf,Bad,,,123.456.789-00,,,,\n"  # line 3
        "dup-mail,Dup,GOOD1@example.com,,,,,,\n"  # line 4: e-mail of good-1
        "bad-points,X,,,,,,12.5,\n"  # line 5
        "bad-date,X,,,,31/02/1990,,,\n"  # line 6
        ",No Id,,,,,,,\n"  # line 7
        '"good-2","Name over\ntwo lines",,,,,,,\n'  # lines 8-9
        "good-1,Again,,,,,,,\n"  # line 10: repeated in the file
        "off,Renamed,,,,,,50,\n"  # line 11: disabled, so the whole row is refused
        "too,many,cells,,,,,,,,\n"  # line 12
        "\n"  # line 13: blank, ignored
        "good-3,,,,,,,,\n",  # line 14
    )
    report = tmp_path / "errors.csv"
    done = run_import(server, tenant.slug, csv, "--errors", str(report))
    one_line_error(done, "8 row(s) rejected")
    assert "created 3, updated 0, unchanged 0, errors 8" in summary(done)
    lines = [line for line in done.stdout.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in lines] == [
        "line 3 (bad-cpf)",
        "line 4 (dup-mail)",
        "line 5 (bad-points)",
        "line 6 (bad-date)",
        "line 7",
        "line 10 (good-1)",
        "line 11 (off)",
        "line 12",
    ]
    by_line = {int(line.split()[1].rstrip(":")): line for line in lines}
    assert "CPF or CNPJ" in by_line[3]
    assert "already used" in by_line[4]
    assert "points must be a whole number" in by_line[5]
    assert "birthday_date must be a date" in by_line[6]
    assert "original_id is empty" in by_line[7]
    assert "already appears on line 2" in by_line[10]
    assert "disabled" in by_line[11]
    assert "Traceback" not in done.stdout + done.stderr

    # Good rows landed; the refused row of a disabled customer changed nothing at all.
    assert points_of(tenant, "good-1")["PointsBalance"] == 10
    assert customer_row(server, tenant, "good-2").name == "Name over\ntwo lines"
    assert customer_row(server, tenant, "good-3") is not None
    assert customer_row(server, tenant, "off").name == "Off"
    assert customer_row(server, tenant, "bad-cpf") is None

    written = report.read_text(encoding="utf-8").splitlines()
    assert written[0] == "line,original_id,error"
    assert [w.split(",")[0] for w in written[1:]] == [str(n) for n in sorted(by_line)]


def test_other_scripts_digits_are_not_numbers_in_a_file(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    # Arabic-Indic digits: `\d` takes them unless told ASCII, and `int` reads them.
    csv = write(
        tmp_path / "digits.csv",
        "arabic-points,X,,,,,,\u0663,\n"  # line 2: 3 points
        "arabic-date,X,,,,\u0660\u0661/\u0660\u0661/\u0662\u0660\u0660\u0660,,,\n"  # line 3
        "ascii,X,,,,01/01/2000,,3,\n",  # line 4
    )
    done = run_import(server, tenant.slug, csv)
    one_line_error(done, "2 row(s) rejected")
    lines = [line for line in done.stdout.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in lines] == [
        "line 2 (arabic-points)",
        "line 3 (arabic-date)",
    ]
    assert customer_row(server, tenant, "arabic-points") is None
    assert customer_row(server, tenant, "arabic-date") is None
    assert points_of(tenant, "ascii")["PointsBalance"] == 3


def test_an_error_report_that_cannot_be_written_stops_the_import_before_any_change(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    csv = write(tmp_path / "fine.csv", "fine-1,Fine,,,,,,10,\n")
    done = run_import(server, tenant.slug, csv, "--errors", str(tmp_path / "no-such-dir" / "e.csv"))
    one_line_error(done, "cannot write the error report", "No such file or directory")
    assert customer_row(server, tenant, "fine-1") is None
    assert transfer_count(server, tenant) == 0


def test_the_rows_counted_as_errors_match_the_lines(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    csv = write(tmp_path / "m.csv", "a,A,,,,,,,\ntoo,many,cells,,,,,,,,\nb,B,,,1,,,,\n")
    done = run_import(server, tenant.slug, csv)
    one_line_error(done, "2 row(s) rejected")
    lines = [line for line in done.stdout.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in lines] == ["line 3", "line 4 (b)"]
    assert "created 1" in summary(done)


@pytest.mark.parametrize(
    ("content", "mention"),
    [
        ("name,email\nAna,a@example.com\n", "original_id is required"),
        ("original_id,nome\nx,y\n", "unknown column"),
        ("", "empty file"),
    ],
)
def test_a_broken_file_is_refused_whole(
    server: Server, tenant: TenantHandle, tmp_path: Path, content: str, mention: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(content, encoding="utf-8")
    one_line_error(run_import(server, tenant.slug, path), mention)


def test_a_missing_file_a_binary_file_or_an_unknown_tenant_is_one_line(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    one_line_error(run_import(server, tenant.slug, tmp_path / "nope.csv"), "no such file")
    binary = tmp_path / "latin1.csv"
    binary.write_bytes(HEADER.encode() + "joão,João,,,,,,,\n".encode("latin-1"))
    one_line_error(run_import(server, tenant.slug, binary), "UTF-8")
    good = write(tmp_path / "ok.csv", "x,X,,,,,,,\n")
    one_line_error(run_import(server, new_slug(), good), "no tenant")


def test_semicolons_and_a_byte_order_mark_are_understood(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefforiginal_id;name;document;points\nfia;Fia;296.866.522-72;5\n".encode())
    ok(run_import(server, tenant.slug, path))
    assert points_of(tenant, "29686652272")["PointsBalance"] == 5


# --- volume ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_rows(server: Server, tenant: TenantHandle, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(10_000):
            points = 100 if n % 10 == 0 else 0
            out.write(
                f"big-{n},Cliente {n},big{n}@example.com,1199{n:07d},{cpf(200_000_000 + n)},"
                f"1990-01-01,,{points},\n"
            )
    done = run_import(server, tenant.slug, path, timeout=1800)
    ok(done)
    assert "10000 row(s)" in summary(done)
    assert "created 10000, updated 0, unchanged 0, errors 0" in summary(done)
    assert "opening balances credited 1000 (100000 points)" in summary(done)
    assert "100%" in done.stdout
    assert "10000/10000" in done.stdout
    assert points_of(tenant, "big-9990")["PointsBalance"] == 100
    again = run_import(server, tenant.slug, path, timeout=600)
    ok(again)
    assert "unchanged 10000" in summary(again)
    assert transfer_count(server, tenant) == 1000


@pytest.mark.skipif(
    not os.environ.get("FIDELIS_TEST_DATABASE_URL", "").startswith("postgres"),
    reason="PostgreSQL's row locks (SQLite has one write lock for the whole database)",
)
def test_an_import_locks_the_customers_it_changes_in_the_order_of_their_ids(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    # The order batches of points adds lock customers in (db/batches.py): in the file's order
    # instead, an import holding B and waiting for A, while a batch holding A waits for B,
    # would deadlock.
    upsert(tenant, "imp-a", Name="A")
    upsert(tenant, "imp-b", Name="B")
    ids = {
        r.original_id: r.id
        for r in query(
            server,
            "SELECT original_id, id FROM customer WHERE tenant_id = :t",
            t=tenant.id,
        )
    }
    assert ids["imp-a"] < ids["imp-b"]
    path = write(tmp_path / "ba.csv", "imp-b,B2,,,,,,,\nimp-a,A2,,,,,,,\n")

    async def work(db: Database) -> None:
        url = server.database_url
        holder = await asyncpg.connect(url)
        prober = await asyncpg.connect(url)
        importing = None
        try:
            async with holder.transaction():
                await holder.execute(
                    "SELECT 1 FROM customer WHERE id = $1 FOR UPDATE", ids["imp-a"]
                )
                env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELIS_")}
                env["FIDELIS_DATABASE_URL"] = url
                importing = subprocess.Popen(
                    [*FIDELIS, "customers", "import", "--tenant", tenant.slug, str(path)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for _ in range(300):  # until the import waits for A
                    waiting = await prober.fetchval(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                        " WHERE NOT l.granted AND a.datname = current_database()"
                        " AND a.query ILIKE '%customer%'"
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                assert waiting, "the import never waited for A"
                # B, first in the file, is not held while the import waits for A.
                async with prober.transaction():
                    await prober.execute(
                        "SELECT 1 FROM customer WHERE id = $1 FOR UPDATE NOWAIT", ids["imp-b"]
                    )
        finally:
            await prober.close()
            await holder.close()
        assert importing is not None
        out, _ = importing.communicate(timeout=60)
        assert importing.returncode == 0, out
        assert "updated 2" in out

    run_async(server.database_url, work)
    assert customer_row(server, tenant, "imp-a").name == "A2"
    assert customer_row(server, tenant, "imp-b").name == "B2"
