"""`/v1/admin/reports/...`: outstanding liability and daily flows, in points and R$."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from fidelis.api.deps import DB, CurrentTenant, Now
from fidelis.api.json import JSONResponse
from fidelis.api.pvt import docs, envelope
from fidelis.api.quick import QuickRoute
from fidelis.kit.clock import iso_utc
from fidelis.kit.money import to_money
from fidelis.program.schemas import ProgramSettings
from fidelis.report import service as report_service
from fidelis.report.service import Flows

router = APIRouter(prefix="/v1/admin/reports", tags=["Admin"], route_class=QuickRoute)

Day = Annotated[date | None, Query(description="A UTC calendar day, YYYY-MM-DD (inclusive).")]


def points_and_value(name: str, points: int, program: ProgramSettings) -> dict[str, Any]:
    """`{name}Points` and `{name}Value` (R$ at the program's PointValue, toward zero)."""
    return {f"{name}Points": points, f"{name}Value": to_money(points, program.PointValue)}


def flows_view(flows: Flows, program: ProgramSettings) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for name in ("Issued", "Redeemed", "Expired", "Reversed", "Refunded"):
        view |= points_and_value(name, getattr(flows, name.lower()), program)
    return view


@router.get(
    "/liability",
    summary="Outstanding points and R$ now; issued/redeemed/expired in a period",
    response_model=None,
    responses=docs.responses(docs.Envelope[dict[str, Any]], body=False),
)
async def liability(
    tenant: CurrentTenant,
    db: DB,
    now: Now,
    From: Day = None,
    To: Day = None,
) -> JSONResponse:
    span = report_service.period(From, To, now=now)
    async with db.snapshot() as conn:
        found = await report_service.liability(conn, tenant.id, span=span, now=now)
    program = tenant.program
    balances = found.balances
    result: dict[str, Any] = {
        "AsOf": iso_utc(found.as_of),
        "PointValue": program.PointValue,
        "Customers": found.customers,
    }
    result |= points_and_value("Outstanding", found.outstanding, program)
    result |= points_and_value("Available", balances.available, program)
    result |= points_and_value("Pending", balances.pending, program)
    result |= points_and_value("Held", balances.held, program)
    result |= points_and_value("Debt", balances.debt, program)
    result |= {"From": span.first.isoformat(), "To": span.last.isoformat()}
    result |= flows_view(found.flows, program)
    return envelope.ok(result)


@router.get(
    "/daily",
    summary="Points issued, redeemed, expired and reversed per UTC day",
    response_model=None,
    responses=docs.responses(docs.Envelope[dict[str, Any]], body=False),
)
async def daily(
    tenant: CurrentTenant,
    db: DB,
    now: Now,
    From: Day = None,
    To: Day = None,
) -> JSONResponse:
    span = report_service.period(From, To, now=now)
    async with db.snapshot() as conn:
        days = await report_service.daily(conn, tenant.id, span=span)
    program = tenant.program
    totals = Flows()
    for day in days:
        for name in ("issued", "redeemed", "expired", "reversed", "refunded"):
            setattr(totals, name, getattr(totals, name) + getattr(day.flows, name))
    return envelope.ok(
        {
            "From": span.first.isoformat(),
            "To": span.last.isoformat(),
            "PointValue": program.PointValue,
            "Days": [
                {"Date": day.day.isoformat(), **flows_view(day.flows, program)} for day in days
            ],
            "Totals": flows_view(totals, program),
        }
    )
