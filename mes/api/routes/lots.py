"""Lots: the list, one lot's record, its gauge scans, its quality report, and the signed decisions
about it (hold, release, scrap)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mes.api.deps import Caller, DbSession, Require, engine_of
from mes.api.negotiation import CSV_RESPONSE, FormatQuery, Since, Until, csv_response, wants_csv
from mes.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from mes.api.signing import FreeText, SignatureIn, signer_must_be_caller
from mes.auth.schemas import Principal
from mes.base import MAX_ROW_ID
from mes.db import session_scope
from mes.errors import MesError
from mes.lots.lot_queries import find_lots
from mes.lots.models import LotKind, LotStatus
from mes.lots.scan_queries import MAX_SCANS, lot_scans, scans_csv
from mes.lots.schemas import LotScans, LotSummary
from mes.quality import disposition as dispo
from mes.quality.disposition_models import DispositionDone
from mes.quality.lot_view import lot_record
from mes.quality.report import report_of
from mes.quality.report_csv import report_csv
from mes.quality.schemas import LotRecord, LotReport

router = APIRouter(tags=["lots"])

LotNumber = Annotated[str, Path(min_length=1, max_length=64, description="The lot number.")]
IntervalId = Annotated[int, Field(ge=1, le=MAX_ROW_ID, strict=True)]  # 1, not "1", 1.0 or true


@router.get("/lots", response_model=Page[LotSummary], summary="Lots, newest first")
def list_lots(
    request: Request,
    response: Response,
    db: DbSession,
    _caller: Caller,
    status: Annotated[list[LotStatus] | None, Query(description="Only lots in these statuses.")] = None,
    kind: Annotated[list[LotKind] | None, Query(description="Only lots of these kinds.")] = None,
    recipe: Annotated[
        str | None, Query(max_length=200, description="ID (any version) or ID@VERSION.")
    ] = None,
    order: Annotated[
        str | None, Query(max_length=64, description="Only the lots of this work order.")
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[LotSummary]:
    """Lots newest first, each with how many of its layers and intervals are not good; ``since`` and
    ``until`` bound when the lot was made. Any logged-in user. 422: a malformed recipe reference,
    status, kind, time or cursor."""
    below = decode_cursor(cursor)
    items, ids = find_lots(db, statuses=status or (), kinds=kind or (), recipe=recipe, order=order,
                           since=since, until=until, below_id=below, limit=limit + 1)  # fmt: skip
    return page(items, ids, limit, request, response)


@router.get("/lots/{number}", response_model=LotRecord, summary="One lot: its record, genealogy, signatures")
def get_lot_record(number: LotNumber, db: DbSession, _caller: Caller) -> LotRecord:
    """Everything ``mes lot show`` prints — why the lot is on hold (``holds``), steps and units, layers
    with statistics and coverage, intervals, inputs — plus genealogy both ways (``genealogy.backward``:
    what went into it, down to the suppliers' lots; ``genealogy.forward``: every lot made from it) and
    every electronic signature over it. Any logged-in user. 404: no such lot."""
    return lot_record(db, number)


@router.get(
    "/lots/{number}/scans",
    response_model=LotScans,
    responses=CSV_RESPONSE,
    summary="Gauge scans of one characteristic of a lot",
    description=f"""The scans with ``start_m <= position_m < end_m``, in position order: every lane
(``null`` where the gauge gave no number) with min, mean and max. CSV (``?format=csv`` or ``Accept:
text/csv``): one row per scan, ``lane_0`` … columns, empty cells for missing values. At most
{MAX_SCANS} scans an answer: a larger range is a 422 that names the limit and a range that fits.
Any logged-in user. 404: no such lot or characteristic.""",
)
def get_scans(
    request: Request,
    number: LotNumber,
    db: DbSession,
    _caller: Caller,
    characteristic: Annotated[
        str, Query(min_length=1, max_length=200, description="LAYER.CHARACTERISTIC, or CHARACTERISTIC alone.")
    ],
    start_m: Annotated[float, Query(allow_inf_nan=False, description="First metre (inclusive).")] = 0.0,
    end_m: Annotated[
        float | None, Query(allow_inf_nan=False, description="Last metre (exclusive); default: the end.")
    ] = None,
    fmt: FormatQuery = None,
) -> LotScans | Response:
    scans = lot_scans(db, number, characteristic, start_m, end_m)
    if wants_csv(request, fmt):
        return csv_response(scans_csv(scans), f"{number}-{scans.layer}.{scans.characteristic}-scans.csv")
    return scans


@router.get(
    "/lots/{number}/report",
    response_model=LotReport,
    responses=CSV_RESPONSE,
    summary="The quality report of a lot",
)
def get_report(request: Request, number: LotNumber, db: DbSession, _caller: Caller, fmt: FormatQuery = None
               ) -> LotReport | Response:  # fmt: skip
    """Layers with statistics, capability, web profile and down-web segments, the control limits
    they were watched with, intervals, alarms with their journal, every disposition and signature
    from the audit trail, genealogy both ways (``mes lot report``). CSV with ``?format=csv`` or
    ``Accept: text/csv`` (or at ``/report.csv``): one table per section under a ``# section`` line.
    Any logged-in user. 404: no such lot."""
    report = report_of(db, number)
    if wants_csv(request, fmt):
        return csv_response(report_csv(report), f"{number}-report.csv")
    return report


@router.get(
    "/lots/{number}/report.csv",
    response_class=Response,
    responses=CSV_RESPONSE,
    summary="The quality report of a lot as CSV",
)
def get_report_csv(number: LotNumber, db: DbSession, _caller: Caller) -> Response:
    """The report as CSV tables, one per section under a ``# section`` line, values rounded to the
    gauge's resolution, times ISO 8601 UTC. Any logged-in user. 404: no such lot."""
    return csv_response(report_csv(report_of(db, number)), f"{number}-report.csv")


class DecisionIn(BaseModel):
    """A signed decision: why, which intervals (none: the whole lot), and the signature."""

    model_config = ConfigDict(extra="forbid")

    reason: FreeText = Field(description="Why; kept in the audit trail with the signature.")
    intervals: list[IntervalId] = Field(
        default_factory=list,
        max_length=dispo.MAX_INTERVALS,
        description="Ids of the lot's intervals to decide about; empty or absent: the whole lot.",
    )
    signature: SignatureIn


def _decide(
    decision: dispo.Decision,
    number: str,
    body: DecisionIn,
    request: Request,
    db: DbSession,
    caller: Principal,
) -> DispositionDone:
    signature = body.signature
    try:
        signer_must_be_caller(caller, signature)
        return dispo.decide(db, decision, number, by=signature.name, password=signature.password,
                            reason=body.reason, meaning=signature.meaning, intervals=body.intervals,
                            requested_by=caller.name)  # fmt: skip
    except MesError as exc:
        # The refusal is kept although the request rolls back: end the request's transaction first
        # (it holds SQLite's write lock, and on PostgreSQL perhaps the audit chain's), then record it.
        db.rollback()
        with session_scope(engine_of(request)) as s:
            dispo.record_refusal(s, decision, number, actor=signature.name, error=exc,
                                 meaning=signature.meaning, requested_by=caller.name)  # fmt: skip
        raise


_SIGNED = """ Signed: ``signature`` is the signer's name and password re-entered for this request
and the meaning of the signature; a bearer token relays a person's signature and never signs by
itself, a login session signs only as its own user. The answer carries the signature (printed name,
time, meaning, SHA-256 of ``signed_content``: the lot, its layers and the intervals decided, as they
were before). 403: the signature was refused (wrong password, a role that may not, another person
than the session's) — audited; 409: the lot's or an interval's state refuses it — audited; 404: no
such lot; 422: no reason, no signature, a meaning this decision cannot have."""
HoldRoles = Annotated[Principal, Depends(Require(*dispo.ROLES_HOLD))]
DecideRoles = Annotated[Principal, Depends(Require(*dispo.ROLES_DECIDE))]


@router.post(
    "/lots/{number}:hold",
    response_model=DispositionDone,
    summary="Hold a lot or intervals of it",
    description="Put the lot (or the given intervals) on hold, and every lot made from that material. "
    "Anyone on the line may hold, with any meaning (default in the command line: responsibility)." + _SIGNED,
)
def post_hold(request: Request, number: LotNumber, body: DecisionIn, db: DbSession, caller: HoldRoles
              ) -> DispositionDone:  # fmt: skip
    return _decide(dispo.Decision.HOLD, number, body, request, db, caller)


@router.post(
    "/lots/{number}:release",
    response_model=DispositionDone,
    summary="Release a held lot or intervals of it",
    description="Release a held lot (or held or flagged intervals): quality role, meaning approval. Lots "
    "made from it stay held: each is a decision of its own." + _SIGNED,
)
def post_release(request: Request, number: LotNumber, body: DecisionIn, db: DbSession, caller: DecideRoles
                 ) -> DispositionDone:  # fmt: skip
    return _decide(dispo.Decision.RELEASE, number, body, request, db, caller)


@router.post(
    "/lots/{number}:scrap",
    response_model=DispositionDone,
    summary="Scrap a lot or intervals of it",
    description="Scrap the lot (or the given intervals): quality role, meaning approval; its open alarms "
    "end and lots made from it go on hold." + _SIGNED,
)
def post_scrap(request: Request, number: LotNumber, body: DecisionIn, db: DbSession, caller: DecideRoles
               ) -> DispositionDone:  # fmt: skip
    return _decide(dispo.Decision.SCRAP, number, body, request, db, caller)
