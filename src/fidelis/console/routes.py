"""The admin console's pages (`/admin`): server-rendered HTML, no JavaScript build step.

Like every entry point, each action opens its transaction here (`db.read()` / `db.write()`)
and calls the same services as the APIs, so the console obeys exactly the same rules.

- Login with `FIDELIS_ADMIN_PASSWORD` (the console is not mounted at all when it is unset);
  failed attempts are throttled per client address (`console.service`).
- The session is a signed cookie (`console.session`): `HttpOnly`, `SameSite=Lax`, `Secure`
  over HTTPS, path `/admin`.
- Every form carries the session's CSRF token and every POST checks it (403 otherwise), the
  login form included.
- A manual adjustment form carries a ChangeKey generated when the page was rendered, so a double
  submit applies once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from fidelis.adjustment import service as adjustment
from fidelis.adjustment.service import ADD, REMOVE, Change
from fidelis.console import charts, forms
from fidelis.console import service as console_service
from fidelis.console import session as console_session
from fidelis.console.session import COOKIE, Session
from fidelis.db.engine import Database
from fidelis.errors import ChangeKeyAlreadyUsed, FidelisError, InvalidField
from fidelis.kit.clock import iso_utc
from fidelis.kit.money import brl, to_money
from fidelis.kit.text import storable
from fidelis.program import service as program_service
from fidelis.report import service as report_service
from fidelis.reward import service as reward_service
from fidelis.reward.service import RewardType
from fidelis.tenant import repository as tenant_repository
from fidelis.tenant.repository import Tenant

log = structlog.get_logger("fidelis.console")

HERE = Path(__file__).resolve().parent
router = APIRouter(prefix="/admin", include_in_schema=False)
CUSTOMERS_PAGE = 25
LEDGER_PAGE = 50
MAX_CHANGE_KEY = 200

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = _when
templates.filters["brl"] = brl
templates.filters["iso"] = iso_utc


def mount(app: FastAPI) -> None:
    """Add the console's pages and its static assets to `app`."""
    app.include_router(router)
    app.mount("/admin/static", StaticFiles(directory=HERE / "static"), name="console-static")


def serves(request: Request) -> bool:
    """True for a path of the console while it is on (`mount` ran: there is a password)."""
    path = request.url.path
    on = bool(request.app.state.settings.admin_password)
    return on and (path == "/admin" or path.startswith("/admin/"))


def framework_error(request: Request, refused: HTTPException) -> Response:
    """The console's page for what the framework refuses on a console path: an address with no
    page, a method a page does not take, a form it cannot read (over 1 000 fields, broken
    multipart: its reason shown)."""
    messages = {
        400: f"The form could not be read: {refused.detail}",
        404: "There is no such page.",
        405: "This page does not take that method.",
    }
    status = refused.status_code
    session = _session(request) or console_session.new()
    return _problem(request, session, status, messages.get(status, "The request failed."))


# --- plumbing ---------------------------------------------------------------------------------


def _password(request: Request) -> str:
    password: str = request.app.state.settings.admin_password
    return password


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _session(request: Request) -> Session | None:
    return console_session.load(request.cookies.get(COOKIE), _password(request))


def _with_cookie(response: Response, request: Request, session: Session) -> Response:
    response.set_cookie(
        COOKIE,
        console_session.dump(session, _password(request)),
        max_age=console_session.MAX_AGE_SECONDS,
        path="/admin",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _render(
    request: Request,
    template: str,
    session: Session,
    *,
    status: int = 200,
    tenant: Tenant | None = None,
    **context: Any,
) -> Response:
    html = templates.get_template(template).render(
        csrf=session.csrf,
        logged_in=session.logged_in,
        tenant=tenant,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    return _with_cookie(response, request, session)


def _redirect(url: str, request: Request, session: Session | None = None) -> Response:
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    return response if session is None else _with_cookie(response, request, session)


def _problem(request: Request, session: Session, status: int, message: str) -> Response:
    return _render(request, "problem.html", session, status=status, message=message)


# No text Fidelis stores may hold NUL (PostgreSQL cannot), as in the API's bodies and queries.
NUL_REFUSED = "The request holds a NUL character, which no field may hold."


def _storable(*texts: str) -> bool:
    """Whether `kit.text.storable` takes each of `texts` (a form or a query can bring NUL)."""
    try:
        for text in texts:
            storable(text)
    except ValueError:
        return False
    return True


async def _form(request: Request, session: Session) -> Mapping[str, Any]:
    # A form the framework cannot read raises here; the app's mapper hands it to
    # `framework_error`.
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not _storable(*fields, *fields.values()):
        raise _Refused(_problem(request, session, 400, NUL_REFUSED))
    return fields


class _Refused(Exception):
    """The request cannot go on; `response` says why (login page, 403, ...)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _staff(request: Request) -> Session:
    session = _session(request)
    if session is None or not session.logged_in:
        raise _Refused(_redirect("/admin/login", request))
    return session


async def _staff_post(request: Request) -> tuple[Session, Mapping[str, Any]]:
    """A logged-in POST whose form carries this session's CSRF token."""
    session = _staff(request)
    form = await _form(request, session)
    if not console_session.csrf_matches(session, form.get("csrf")):
        log.warning("console_csrf_refused", path=request.url.path, client=_client(request))
        raise _Refused(
            _problem(
                request,
                session,
                403,
                "This form could not be verified (missing or wrong CSRF token). "
                "Reload the page and try again.",
            )
        )
    return session, form


async def _tenant_of(request: Request, session: Session) -> Tenant:
    """The tenant picked in this session (else the picker)."""
    if session.tenant is not None:
        async with _db(request).read() as conn:
            found = await tenant_repository.get_by_slug(conn, session.tenant)
        if found is not None:
            return found
    raise _Refused(_redirect("/admin/tenants", request, session.with_tenant(None)))


def _page_number(request: Request) -> int:
    number = forms.natural(request.query_params.get("page", "1"), 6)
    return number if number is not None and 0 < number <= 100_000 else 1


# --- login ------------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    session = _session(request)
    if session is not None and session.logged_in:
        return _redirect("/admin", request)
    return _render(request, "login.html", session or console_session.new())


@router.post("/login")
async def login(request: Request) -> Response:
    session = _session(request)
    try:
        form = await _form(request, session or console_session.new())
    except _Refused as refused:
        return refused.response
    if session is None or not console_session.csrf_matches(session, form.get("csrf")):
        return _problem(
            request,
            session or console_session.new(),
            403,
            "The login form could not be verified (missing or wrong CSRF token). "
            "Reload the page and try again.",
        )
    client = _client(request)
    async with _db(request).write() as conn:
        outcome = await console_service.login(
            conn,
            client=client,
            password=forms.text(form, "password"),
            expected=_password(request),
            now=_now(request),
        )
    log.info("console_login", outcome=outcome.value, client=client)
    if outcome == console_service.Login.throttled:
        response = _render(
            request,
            "login.html",
            session,
            status=429,
            error="Too many failed attempts from your address. Try again later.",
        )
        response.headers["Retry-After"] = str(int(console_service.LIMIT.window.total_seconds()))
        return response
    if outcome == console_service.Login.wrong:
        return _render(request, "login.html", session, status=401, error="Wrong password.")
    # A new session (new CSRF token) on login: nothing from before the login carries over.
    return _redirect("/admin", request, console_session.new(logged_in=True))


@router.post("/logout")
async def logout(request: Request) -> Response:
    try:
        await _staff_post(request)
    except _Refused as refused:
        return refused.response
    return _redirect("/admin/login", request, console_session.new())


# --- tenants ----------------------------------------------------------------------------------


@router.get("/tenants")
async def tenants_page(request: Request) -> Response:
    try:
        session = _staff(request)
    except _Refused as refused:
        return refused.response
    async with _db(request).read() as conn:
        tenants = await tenant_repository.list_all_tenants(conn)
    return _render(request, "tenants.html", session, tenants=tenants, current=session.tenant)


@router.post("/tenant")
async def pick_tenant(request: Request) -> Response:
    try:
        session, form = await _staff_post(request)
    except _Refused as refused:
        return refused.response
    slug = forms.text(form, "slug")
    async with _db(request).read() as conn:
        found = await tenant_repository.get_by_slug(conn, slug) if slug else None
    if found is None:
        return _problem(request, session, 404, "No such tenant.")
    return _redirect("/admin", request, session.with_tenant(found.slug))


# --- dashboard --------------------------------------------------------------------------------


@router.get("")
async def dashboard(request: Request) -> Response:
    try:
        session = _staff(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    now = _now(request)
    span = report_service.period(None, None, now=now)
    async with _db(request).snapshot() as conn:
        found = await report_service.liability(conn, tenant.id, span=span, now=now)
        days = await report_service.daily(conn, tenant.id, span=span)
    point_value = tenant.program.PointValue
    return _render(
        request,
        "dashboard.html",
        session,
        tenant=tenant,
        liability=found,
        money=lambda points: to_money(points, point_value),
        chart=charts.daily_bars(days),
        series=charts.SERIES,
        days=days,
    )


# --- customers --------------------------------------------------------------------------------


@router.get("/customers")
async def customers_page(request: Request) -> Response:
    try:
        session = _staff(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    query = request.query_params.get("q", "")[:200]
    if not _storable(query):
        return _problem(request, session, 400, NUL_REFUSED)
    page = _page_number(request)
    async with _db(request).snapshot() as conn:
        found = await report_service.search_customers(
            conn, tenant.id, query, page=page, size=CUSTOMERS_PAGE, now=_now(request)
        )
    return _render(
        request,
        "customers.html",
        session,
        tenant=tenant,
        query=query,
        found=found,
        page=page,
        pages=max(1, -(-found.total // CUSTOMERS_PAGE)),
        money=lambda points: to_money(points, tenant.program.PointValue),
    )


async def _customer_page(
    request: Request,
    session: Session,
    tenant: Tenant,
    customer_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> Response:
    number = forms.natural(customer_id, 18)
    if number is None:
        return _problem(request, session, 404, "Customer not found.")
    now = _now(request)
    page = _page_number(request)
    async with _db(request).snapshot() as conn:
        try:
            customer = await report_service.get_customer(conn, tenant.id, number)
        except FidelisError:
            return _problem(request, session, 404, "Customer not found.")
        file = await report_service.customer_file(conn, tenant.id, customer, now=now)
        ledger = await report_service.customer_ledger(
            conn, tenant.id, customer, page=page, size=LEDGER_PAGE
        )
    notices = {
        "applied": "Adjustment applied.",
        "already": "This adjustment was already applied (double submit); nothing more changed.",
    }
    return _render(
        request,
        "customer.html",
        session,
        status=status,
        tenant=tenant,
        file=file,
        ledger=ledger,
        page=page,
        pages=max(1, -(-ledger.total // LEDGER_PAGE)),
        lot_state=lambda lot: report_service.lot_state(lot, now),
        money=lambda points: to_money(points, tenant.program.PointValue),
        change_key=f"{report_service.CONSOLE_KEY_PREFIX}{uuid.uuid4().hex}",
        notice=notices.get(request.query_params.get("done", "")),
        error=error,
        values=values or {},
    )


@router.get("/customers/{customer_id}")
async def customer_page(request: Request, customer_id: str) -> Response:
    try:
        session = _staff(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    return await _customer_page(request, session, tenant, customer_id)


@router.post("/customers/{customer_id}/adjust")
async def adjust(request: Request, customer_id: str) -> Response:
    try:
        session, form = await _staff_post(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    here = f"/admin/customers/{customer_id}"
    number = forms.natural(customer_id, 18)
    if number is None:
        return _problem(request, session, 404, "Customer not found.")
    now = _now(request)
    try:
        points, change = _adjustment(form)
        async with _db(request).read() as conn:
            customer = await report_service.get_customer(conn, tenant.id, number)
        async with _db(request).write(queue=f"{tenant.id}:{customer.original_id}") as conn:
            # The same service, rules and order as POST /v1/pvt/Customer/{id}/points.
            await adjustment.change_points(
                conn,
                tenant_id=tenant.id,
                program=tenant.program,
                ident=customer.original_id,
                points=points,
                change=change,
                now=now,
            )
    except ChangeKeyAlreadyUsed:
        return _redirect(f"{here}?done=already", request, session)
    except FidelisError as exc:
        return await _customer_page(
            request, session, tenant, customer_id, status=400, error=exc.message, values=form
        )
    log.info("console_adjustment", tenant=tenant.slug, customer=customer_id, points=points)
    return _redirect(f"{here}?done=applied", request, session)


def _adjustment(form: Mapping[str, Any]) -> tuple[int, Change]:
    operation = forms.text(form, "operation")
    if operation not in ("add", "remove"):
        raise InvalidField("Choose whether to add or remove points.")
    amount = forms.whole(form, "points", "Points")
    if amount is None or amount < 0:
        raise InvalidField("Points must be a positive whole number.")
    key = forms.text(form, "change_key")
    if not key.startswith(report_service.CONSOLE_KEY_PREFIX) or len(key) > MAX_CHANGE_KEY:
        raise InvalidField("The form is stale; reload the page and try again.")
    change = Change(
        operation=ADD if operation == "add" else REMOVE,
        reason=forms.optional_text(form, "reason"),
        customer_reason=forms.optional_text(form, "customer_reason"),
        change_key=key,
    )
    return (amount if operation == "add" else -amount), change


# --- program ----------------------------------------------------------------------------------


@router.get("/program")
async def program_page(request: Request) -> Response:
    try:
        session = _staff(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    notice = "Settings saved." if request.query_params.get("done") == "saved" else None
    return _render(
        request,
        "program.html",
        session,
        tenant=tenant,
        program=tenant.program,
        values=None,
        notice=notice,
    )


@router.post("/program")
async def save_program(request: Request) -> Response:
    try:
        session, form = await _staff_post(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    try:
        changes = forms.program_changes(form)
        async with _db(request).write() as conn:
            # The same validation as PUT /v1/admin/program.
            await program_service.update(conn, tenant.id, changes)
    except FidelisError as exc:
        return _render(
            request,
            "program.html",
            session,
            status=400,
            tenant=tenant,
            program=tenant.program,
            values=form,
            error=exc.message,
        )
    log.info("console_program_saved", tenant=tenant.slug)
    return _redirect("/admin/program?done=saved", request, session)


# --- rewards ----------------------------------------------------------------------------------


async def _rewards_page(
    request: Request,
    session: Session,
    tenant: Tenant,
    *,
    status: int = 200,
    error: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> Response:
    async with _db(request).read() as conn:
        rewards = await reward_service.list_all(conn, tenant.id)
    notice = "Reward created." if request.query_params.get("done") == "created" else None
    return _render(
        request,
        "rewards.html",
        session,
        status=status,
        tenant=tenant,
        rewards=rewards,
        reward_types=list(RewardType),
        value_of=reward_service.value_of,
        minimal_value_of=reward_service.minimal_value_of,
        notice=notice,
        error=error,
        values=values or {"IsActive": "on"},
    )


@router.get("/rewards")
async def rewards_page(request: Request) -> Response:
    try:
        session = _staff(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    return await _rewards_page(request, session, tenant)


@router.post("/rewards")
async def create_reward(request: Request) -> Response:
    try:
        session, form = await _staff_post(request)
        tenant = await _tenant_of(request, session)
    except _Refused as refused:
        return refused.response
    try:
        fields = forms.reward_fields(form)
        async with _db(request).write() as conn:
            # The same rules as POST /v1/admin/rewards.
            await reward_service.create(conn, tenant_id=tenant.id, fields=fields, now=_now(request))
    except FidelisError as exc:
        return await _rewards_page(
            request, session, tenant, status=400, error=exc.message, values=form
        )
    log.info("console_reward_created", tenant=tenant.slug)
    return _redirect("/admin/rewards?done=created", request, session)
