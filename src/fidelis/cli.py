"""The `fidelis` command. Each command opens its transaction and calls one service.

Errors print one line to stderr and exit non-zero; no traceback reaches the operator.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from fidelis.config import Settings
from fidelis.db.engine import Database
from fidelis.db.migrate import upgrade_to_head
from fidelis.errors import FidelisError
from fidelis.importer import csvfile as import_csv
from fidelis.importer import service as import_service
from fidelis.job import service as job_service
from fidelis.kit.clock import ACCEPTED, accepted_utc, utc_now
from fidelis.kit.money import is_decimal_text
from fidelis.ledger import check as ledger_check
from fidelis.program import service as program_service
from fidelis.program.schemas import ProgramSettings
from fidelis.tenant import repository as tenant_repository
from fidelis.tenant import service as tenant_service

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Fidelis loyalty engine.",
)
tenant_app = typer.Typer(no_args_is_help=True, help="Tenants (loyalty programs).")
key_app = typer.Typer(no_args_is_help=True, help="API keys.")
program_app = typer.Typer(no_args_is_help=True, help="Program settings.")
ledger_app = typer.Typer(no_args_is_help=True, help="The ledger.")
jobs_app = typer.Typer(no_args_is_help=True, help="Background jobs.")
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
app.add_typer(program_app, name="program")
app.add_typer(ledger_app, name="ledger")
app.add_typer(jobs_app, name="jobs")

out = Console()
T = TypeVar("T")


class CliError(Exception):
    """A message for the operator, printed as one line."""


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings(**options: Any) -> Settings:
    """The settings of the environment (and `.env`), with the command's options given over
    them, validated by the same rules; a bad value is one line naming where it came from."""
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "*"
        name = f"--{field}" if field in given else f"FIDELIS_{field.upper()}"
        fail(f"invalid {name}: {error['msg']}", 2)
        raise AssertionError("unreachable") from None


def run(work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    """Run `work` with a database handle, turning every failure into one line on stderr.

    The schema is brought to the latest migration first (a no-op when it already is), so the
    commands work on a brand-new database just as `fidelis serve` does.
    """
    config = settings()
    migrate_or_fail(config)

    async def main() -> T:
        db = Database(config.database_url, timeout=config.db_timeout_seconds)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except CliError as exc:
        fail(str(exc))
    except (FidelisError, OSError, SQLAlchemyError) as exc:
        fail(_describe(exc))
    raise AssertionError("unreachable")


def _describe(exc: FidelisError | OSError | SQLAlchemyError) -> str:
    """One line for the operator about a failure of the service or the database."""
    if isinstance(exc, FidelisError):
        return exc.message
    return f"database error: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def migrate_or_fail(config: Settings) -> None:
    try:
        upgrade_to_head(config.database_url)
    except Exception as exc:
        fail(f"migration failed: {type(exc).__name__}: {exc}".splitlines()[0])


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [FIDELIS_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [FIDELIS_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes [FIDELIS_WORKERS].")] = None,
) -> None:
    """Migrate the database to head if needed, then serve the HTTP API."""
    import uvicorn

    from fidelis.api.wire import HttpProtocol

    config = settings(host=host, port=port, workers=workers)
    migrate_or_fail(config)
    processes = config.workers
    metrics_dir = None
    if processes > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own memory; a shared folder lets /metrics, answered by
        # any one of them, sum them all (docs/DECISIONS.md). Inherited by the workers.
        metrics_dir = tempfile.mkdtemp(prefix="fidelis-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    uvicorn.run(
        "fidelis.app:create_app_from_env",
        factory=True,
        host=config.host,
        port=config.port,
        workers=processes,
        log_level=config.log_level,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=HttpProtocol,
        access_log=False,
    )
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    config = settings()
    migrate_or_fail(config)
    typer.echo("database is at the latest migration")


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Option(help="Short unique name, e.g. loja-a.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a tenant and its first API key (the key is shown only once)."""

    async def work(db: Database) -> tenant_service.Credentials:
        async with db.write() as conn:
            return await tenant_service.create(conn, slug=slug, name=name, now=utc_now())

    _print_credentials(run(work), as_json)


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Issue another API key for a tenant (shown only once)."""

    async def work(db: Database) -> tenant_service.Credentials:
        async with db.write() as conn:
            found = await tenant_service.get(conn, tenant)
            return await tenant_service.create_key(conn, tenant=found, now=utc_now())

    _print_credentials(run(work), as_json)


@key_app.command("revoke")
def key_revoke(
    token: Annotated[str, typer.Argument(help="The ApiToken to revoke.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
) -> None:
    """Revoke an API key: requests with it get 401 from now on."""

    async def work(db: Database) -> None:
        async with db.write() as conn:
            found = await tenant_service.get(conn, tenant)
            await tenant_service.revoke_key(conn, tenant=found, token=token, now=utc_now())

    run(work)
    typer.echo("revoked")


def _print_credentials(credentials: tenant_service.Credentials, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "tenant": credentials.tenant,
                    "api_token": credentials.api_token,
                    "api_key": credentials.api_key,
                }
            )
        )
        return
    out.print(f"tenant:    {credentials.tenant}")
    out.print(f"ApiToken:  {credentials.api_token}")
    out.print(f"ApiKey:    {credentials.api_key}")
    out.print("[yellow]The ApiKey is shown only now; store it safely.[/yellow]")


@program_app.command("show")
def program_show(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the program settings."""

    async def work(db: Database) -> ProgramSettings:
        async with db.read() as conn:
            found = await tenant_service.get(conn, tenant)
            return await tenant_repository.get_program(conn, found.id)

    _print_program(run(work), as_json)


def _decimal(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    if not is_decimal_text(value):
        fail(f"{option} must be a number")
    return Decimal(value)


@program_app.command("set")
def program_set(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    point_value: Annotated[str | None, typer.Option(help="R$ per point.")] = None,
    cashback_enabled: Annotated[bool | None, typer.Option(help="Cashback on/off.")] = None,
    points_per_currency: Annotated[str | None, typer.Option(help="Points per R$1.")] = None,
    order_points_pending_days: Annotated[int | None, typer.Option()] = None,
    points_expire_after_days: Annotated[
        int | None, typer.Option(help="Lot lifetime in days; 0 = never expire.")
    ] = None,
    lock_ttl_seconds: Annotated[int | None, typer.Option()] = None,
    checkout_hold_hours: Annotated[int | None, typer.Option()] = None,
    refund_redeem_on_order_cancel: Annotated[bool | None, typer.Option()] = None,
    default_customer_reason: Annotated[str | None, typer.Option()] = None,
    max_percent_of_purchase: Annotated[str | None, typer.Option()] = None,
    min_purchase_value: Annotated[str | None, typer.Option()] = None,
    max_value: Annotated[
        str | None, typer.Option(help="Cap in R$ per purchase; 'none' removes it.")
    ] = None,
    base: Annotated[str | None, typer.Option(help="total or total_minus_discount.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change program settings (same validation as the admin API)."""
    changes: dict[str, Any] = {}
    rule: dict[str, Any] = {}
    simple = {
        "PointValue": _decimal(point_value, "--point-value"),
        "CashbackEnabled": cashback_enabled,
        "PointsPerCurrency": _decimal(points_per_currency, "--points-per-currency"),
        "OrderPointsPendingDays": order_points_pending_days,
        "LockTtlSeconds": lock_ttl_seconds,
        "CheckoutHoldHours": checkout_hold_hours,
        "RefundRedeemOnOrderCancel": refund_redeem_on_order_cancel,
        "DefaultCustomerReason": default_customer_reason,
    }
    changes.update({k: v for k, v in simple.items() if v is not None})
    if points_expire_after_days is not None:
        changes["PointsExpireAfterDays"] = points_expire_after_days or None
    if max_percent_of_purchase is not None:
        rule["MaxPercentOfPurchase"] = _decimal(
            max_percent_of_purchase, "--max-percent-of-purchase"
        )
    if min_purchase_value is not None:
        rule["MinPurchaseValue"] = _decimal(min_purchase_value, "--min-purchase-value")
    if max_value is not None:
        rule["MaxValue"] = (
            None if max_value.lower() == "none" else _decimal(max_value, "--max-value")
        )
    if base is not None:
        rule["Base"] = base
    if rule:
        changes["RedemptionRule"] = rule
    if not changes:
        fail("nothing to change: pass at least one setting option (see --help)")

    async def work(db: Database) -> ProgramSettings:
        async with db.write() as conn:
            found = await tenant_service.get(conn, tenant)
            return await program_service.update(conn, found.id, changes)

    _print_program(run(work), as_json)


def _print_program(program: ProgramSettings, as_json: bool) -> None:
    document = program.to_document()
    if as_json:
        typer.echo(json.dumps(document))
        return
    table = Table("setting", "value")
    for name, value in document.items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                table.add_row(f"{name}.{sub}", json.dumps(sub_value))
        else:
            table.add_row(name, json.dumps(value))
    out.print(table)


@ledger_app.command("check")
def ledger_check_command(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
) -> None:
    """Verify every ledger invariant; exit 1 naming each violation."""

    async def work(db: Database) -> tuple[list[ledger_check.Summary], list[ledger_check.Violation]]:
        async with db.snapshot() as conn:
            if tenant is not None:
                tenants = [await tenant_service.get(conn, tenant)]
            else:
                tenants = await tenant_repository.list_all_tenants(conn)
            summaries, violations = [], []
            for each in tenants:
                violations += await ledger_check.check_tenant(conn, each.id)
                summaries.append(await ledger_check.summarize(conn, each.id))
            return summaries, violations

    summaries, violations = run(work)
    for violation in violations:
        typer.echo(f"VIOLATION tenant={violation.tenant_id} {violation.rule}: {violation.detail}")
    transfers = sum(s.transfers for s in summaries)
    entries = sum(s.entries for s in summaries)
    lots = sum(s.lots for s in summaries)
    typer.echo(
        f"checked {len(summaries)} tenant(s): {transfers} transfers, {entries} entries, "
        f"{lots} lots; {len(violations)} violation(s)"
    )
    if violations:
        raise typer.Exit(1)


# Seconds: a runner never retries a failing database in a tight loop.
MIN_INTERVAL = 0.1


@jobs_app.command("run")
def jobs_run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    now: Annotated[
        str | None, typer.Option(help="Act as if it were this ISO-8601 instant (testing).")
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 30.0,
) -> None:
    """Settle due lots (release pending, expire old); safe to run in several processes."""
    fixed_now = _parse_instant(now) if now is not None else None
    if not interval >= MIN_INTERVAL:
        fail(f"--interval must be at least {MIN_INTERVAL:g} seconds", 2)

    async def one_pass(db: Database) -> tuple[int, dict[tuple[int, int], str]]:
        """Settle what is due: a batch of each tenant in turn, so a backlog in one does not
        hold up the others, until no tenant has more. Customers that could not be settled
        are named (by tenant and customer) and left for the next pass."""
        async with db.read() as conn:
            tenants = await job_service.due_tenants(conn, now=fixed_now or utc_now())
        settled = 0
        failed: dict[tuple[int, int], str] = {}
        # Each tenant's place in its due customers, so the pass meets each of them once.
        places: dict[int, job_service.Cursor | None] = dict.fromkeys(tenants)
        while places:
            for tenant_id, after in list(places.items()):
                async with db.write() as conn:
                    batch = await job_service.settle_due_batch(
                        conn, tenant_id=tenant_id, now=fixed_now or utc_now(), after=after
                    )
                settled += batch.settled
                failed.update(((tenant_id, c), why) for c, why in batch.failed)
                if batch.taken == job_service.BATCH_SIZE:
                    places[tenant_id] = batch.last  # a full batch may have left more
                else:
                    del places[tenant_id]
        return settled, failed

    async def work(db: Database) -> None:
        while True:
            try:
                settled, failed = await one_pass(db)
            except (FidelisError, OSError, SQLAlchemyError) as exc:
                if once:
                    raise
                # A long-running runner outlives an outage, as the API does.
                typer.echo(f"error: pass failed: {_describe(exc)}; next in {interval:g}s", err=True)
            else:
                for (tenant_id, customer_id), why in failed.items():
                    typer.echo(
                        f"error: tenant {tenant_id} customer {customer_id} not settled: {why}",
                        err=True,
                    )
                typer.echo(f"settled {settled} customer(s)")
                if once:
                    if failed:
                        raise typer.Exit(1)
                    return
            await asyncio.sleep(interval)

    run(work)


def _parse_instant(value: str) -> datetime:
    try:
        return accepted_utc(datetime.fromisoformat(value))
    except ValueError:
        fail(f"--now must be an ISO-8601 instant {ACCEPTED}, e.g. 2026-12-01T00:00:00Z")
        raise AssertionError("unreachable") from None


customers_app = typer.Typer(no_args_is_help=True, help="Customers.")
TRANSACTION_SECONDS = 0.5
app.add_typer(customers_app, name="customers")


@customers_app.command("import")
def customers_import(
    file: Annotated[Path, typer.Argument(help="CSV file (docs/IMPORT.md).", show_default=False)],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    errors: Annotated[
        Path | None, typer.Option(help="Also write rejected rows to this CSV report.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 250,
) -> None:
    """Bulk upsert customers and opening balances; bad rows are reported by line and skipped.

    Re-running the same file changes nothing. Exits 1 when any row was rejected.
    """
    try:
        rows = import_csv.read(file)
    except import_csv.ImportFileError as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from None
    # Opened before the import, so a report that cannot be written fails before any change.
    report = _open_error_report(errors) if errors is not None else None
    from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

    async def work(db: Database) -> list[import_service.Outcome]:
        async with db.read() as conn:
            found = await tenant_service.get(conn, tenant)
        outcomes: list[import_service.Outcome] = []
        columns = (
            *Progress.get_default_columns()[:-1],
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=out) as progress:
            task = progress.add_task("importing", total=len(rows))
            size = batch_size
            written, analyze_at = 0, 500
            while len(outcomes) < len(rows):
                batch = rows[len(outcomes) : len(outcomes) + size]
                keep_going = _until(time.monotonic() + TRANSACTION_SECONDS)
                # One transaction per batch, cut short after TRANSACTION_SECONDS so a live
                # server is never kept waiting long for SQLite's single write lock. Each row has
                # its own savepoint inside, so a bad row never takes good ones down with it.
                async with db.write() as conn:
                    done = await import_service.import_rows(
                        conn,
                        found,
                        batch,
                        now=utc_now(),
                        keep_going=keep_going,
                    )
                outcomes += done
                progress.advance(task, len(done))
                # Look ahead (one read per batch) about as far as one transaction gets.
                size = min(batch_size, max(20, 2 * len(done)))
                written += sum(o.kind in ("created", "updated") for o in done)
                if written >= analyze_at:
                    analyze_at *= 2
                    async with db.write() as conn:
                        await import_service.refresh_statistics(conn)
        return outcomes

    started = time.monotonic()
    outcomes = run(work)
    elapsed = time.monotonic() - started
    rejected = [o for o in outcomes if o.kind == "error"]
    for outcome in rejected:
        who = f" ({outcome.original_id})" if outcome.original_id else ""
        out.print(f"line {outcome.line}{who}: {outcome.message}", markup=False, highlight=False)
    if report is not None:
        _write_error_report(report, rejected)
    count = {
        kind: sum(o.kind == kind for o in outcomes) for kind in ("created", "updated", "unchanged")
    }
    credited = [o.credited for o in outcomes if o.credited]
    typer.echo(
        f"{len(outcomes)} row(s) in {elapsed:.1f} s: created {count['created']}, "
        f"updated {count['updated']}, unchanged {count['unchanged']}, errors {len(rejected)}; "
        f"opening balances credited {len(credited)} ({sum(credited)} points)"
    )
    if rejected:
        fail(f"{len(rejected)} row(s) rejected; see the lines above")


def _until(deadline: float) -> Callable[[], bool]:
    return lambda: time.monotonic() < deadline


def _open_error_report(path: Path) -> TextIO:
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"cannot write the error report {path}: {exc.strerror or exc}")
        raise AssertionError("unreachable") from None


def _write_error_report(report: TextIO, rejected: list[import_service.Outcome]) -> None:
    try:
        with report:
            writer = csv.writer(report)
            writer.writerow(["line", "original_id", "error"])
            for outcome in rejected:
                writer.writerow([outcome.line, outcome.original_id or "", outcome.message])
    except OSError as exc:
        fail(f"cannot write the error report {report.name}: {exc.strerror or exc}")


report_app = typer.Typer(no_args_is_help=True, help="Reports.")
app.add_typer(report_app, name="report")


@report_app.command("liability")
def report_liability(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    first: Annotated[
        str | None, typer.Option("--from", help="First UTC day of the period, YYYY-MM-DD.")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last UTC day of the period [today].")
    ] = None,
) -> None:
    """Outstanding points and R$ per tenant (available, pending, held) and what was issued,
    redeemed, expired and reversed in a period (default: the last 30 UTC days)."""
    from datetime import date

    from fidelis.kit.money import brl, to_money
    from fidelis.report import service as report_service

    def day(value: str | None, option: str) -> date | None:
        try:
            return None if value is None else date.fromisoformat(value)
        except ValueError:
            fail(f"{option} must be a date, YYYY-MM-DD")
            raise AssertionError("unreachable") from None

    first_day, last_day = day(first, "--from"), day(last, "--to")

    async def work(db: Database) -> list[tuple[Any, report_service.Liability]]:
        async with db.snapshot() as conn:
            if tenant is not None:
                tenants = [await tenant_service.get(conn, tenant)]
            else:
                tenants = await tenant_repository.list_all_tenants(conn)
            now = utc_now()
            span = report_service.period(first_day, last_day, now=now)
            return [
                (each, await report_service.liability(conn, each.id, span=span, now=now))
                for each in tenants
            ]

    found = run(work)
    if not found:
        fail("no tenants yet (fidelis tenant create)")
    span = found[0][1].period
    table = Table(
        "tenant",
        "customers",
        "outstanding",
        "available",
        "pending",
        "held",
        "debt",
        "issued",
        "redeemed",
        "expired",
        "reversed",
        title=f"Liability now; flows {span.first} to {span.last} (UTC days)",
    )
    for each, liability in found:
        value = each.program.PointValue

        def cell(points: int, point_value: Decimal = value) -> str:
            return f"{points} pts\n{brl(to_money(points, point_value))}"

        balances, flows = liability.balances, liability.flows
        table.add_row(
            each.slug,
            str(liability.customers),
            cell(liability.outstanding),
            cell(balances.available),
            cell(balances.pending),
            cell(balances.held),
            cell(balances.debt),
            cell(flows.issued),
            cell(flows.redeemed),
            cell(flows.expired),
            cell(flows.reversed),
        )
    out.print(table)


def main() -> None:
    # An argument whose bytes are not UTF-8 reaches Python with lone surrogates in place of
    # those bytes (PEP 383), text no database can store or even compare: refused up front.
    for position, argument in enumerate(sys.argv[1:], start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            typer.echo(f"error: argument {position} is not valid UTF-8", err=True)
            sys.exit(2)  # a usage error, as the parser's own
    try:
        # Not standalone: the parser's own errors come here instead of its framed, multi-line
        # panel, and print as one line as every other error does.
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:
        message = " ".join(exc.format_message().split())
        if message:  # none when a group without its command showed its help instead
            context = getattr(exc, "ctx", None)
            hint = f" (see {context.command_path} --help)" if context is not None else ""
            typer.echo(f"error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
