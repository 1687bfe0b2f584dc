"""``mes alarm …``, ``mes spc limits …`` and the signed ``mes lot hold|release|scrap``."""

from __future__ import annotations

import enum
from collections.abc import Callable

import typer

from mes.auth.signatures import SignatureMeaning
from mes.cli.common import (
    AsJson,
    PasswordStdin,
    database,
    finite,
    free_text,
    out,
    print_json,
    read_password,
    user_name,
)
from mes.cli.tables import Column, ident, print_table, text, timestamp
from mes.db import session_scope
from mes.errors import InputError, MesError
from mes.quality import alarms
from mes.quality import disposition as dispo
from mes.quality.alarm_views import alarm_list as alarm_list_of
from mes.quality.alarm_views import alarms_csv
from mes.quality.limits import DEFAULT_SEGMENT_M, compute_limits, list_limits

alarm_app = typer.Typer(help="Alarms (ISA-18.2): list, acknowledge, shelve.", no_args_is_help=True)
limits_app = typer.Typer(help="Stored control limits per recipe version, unit and characteristic.")

By = typer.Option(
    ..., "--by", callback=user_name, help="User name of who does this (recorded with the transition)."
)
Reason = typer.Option(..., "--reason", callback=free_text, help="Why (recorded in the audit trail).")
Interval = typer.Option(
    None, "--interval", help="Only this out-of-spec interval of the lot (its id); repeat for more."
)


@alarm_app.command("list")
def alarm_list(
    include_closed: bool = typer.Option(False, "--all", help="Closed alarms too (newest 500)."),
    as_json: bool = AsJson,
    as_csv: bool = typer.Option(
        False, "--csv", help="Print CSV for a spreadsheet: one row per alarm, ISO 8601 UTC times."
    ),
) -> None:
    """Open alarms, most urgent first; shelved ones last."""
    if as_json and as_csv:
        raise InputError("give --json or --csv, not both")
    with database() as engine, session_scope(engine) as session:
        alarms.expire_shelving(session)
        rows = alarm_list_of(session, include_closed=include_closed)
    if as_json:
        print_json(rows)
        return
    if as_csv:
        typer.echo(alarms_csv(rows), nl=False)
        return
    columns = [
        Column("id", justify="right"),
        Column("priority"),
        Column("state"),
        timestamp("raised UTC"),
        ident("tag"),
        ident("lot"),
        ident("unit"),
        Column("characteristic"),
        text("message"),
    ]
    table = []
    for a in rows:
        state = a.state.value + (f", shelved until {a.shelved_until:%H:%M}" if a.shelved_until else "")
        table.append(
            [
                str(a.id),
                a.priority.value,
                state,
                f"{a.raised_at:%Y-%m-%d %H:%M:%S}",
                a.condition,
                a.lot or "",
                a.unit or "",
                a.characteristic or "",
                a.message,
            ]
        )
    print_table(columns, table)


@alarm_app.command("ack")
def alarm_ack(
    alarm_id: int = typer.Argument(...),
    by: str = By,
    comment: str | None = typer.Option(None, "--comment", callback=free_text),
) -> None:
    """Acknowledge an alarm."""
    with database() as engine, session_scope(engine) as session:
        alarm = alarms.acknowledge(session, alarm_id, by=by, comment=comment)
        state = alarm.state.value
    out.print(f"alarm {alarm_id} acknowledged by {by}: now {state}")


@alarm_app.command("shelve")
def alarm_shelve(
    alarm_id: int = typer.Argument(...),
    minutes: float = typer.Option(
        ..., "--minutes", callback=finite, help=f"At most {alarms.MAX_SHELVE_S // 60}."
    ),
    by: str = By,
    reason: str = Reason,
) -> None:
    """Shelve an alarm for a while (it comes back by itself)."""
    with database() as engine, session_scope(engine) as session:
        alarm = alarms.shelve(session, alarm_id, by=by, duration_s=minutes * 60, reason=reason)
        until = alarm.shelved_until
    out.print(f"alarm {alarm_id} shelved by {by} until {until:%Y-%m-%d %H:%M} UTC")


@alarm_app.command("unshelve")
def alarm_unshelve(
    alarm_id: int = typer.Argument(...),
    by: str = By,
    comment: str | None = typer.Option(None, "--comment", callback=free_text),
) -> None:
    """Return a shelved alarm to the active list."""
    with database() as engine, session_scope(engine) as session:
        alarms.unshelve(session, alarm_id, by=by, comment=comment)
    out.print(f"alarm {alarm_id} unshelved by {by}")


@limits_app.command("compute")
def limits_compute(
    recipe: str = typer.Option(..., "--recipe", help="Recipe version, ID@VERSION."),
    unit: str = typer.Option(..., "--unit", help="Equipment unit, e.g. sputter-1."),
    layer: str = typer.Option(..., "--layer", help="Layer name in the recipe."),
    characteristic: str = typer.Option(..., "--characteristic", help="e.g. thickness."),
    lots: str = typer.Option(..., "--lots", help="Baseline lots, comma separated, in time order."),
    rules: str = typer.Option(
        "nelson", "--rules", help="nelson, western-electric, or a subset such as nelson:1,2,3,5."
    ),
    run_length: int = typer.Option(9, "--run-length", min=7, max=11, help="Same-side run length (8 or 9)."),
    segment_m: float = typer.Option(
        DEFAULT_SEGMENT_M,
        "--segment-m",
        callback=finite,
        help="Metres of band averaged into one charted point.",
    ),
    accept_few_lots: bool = typer.Option(
        False, "--accept-few-lots", help="Store limits from fewer baseline lots than 20 (audited)."
    ),
    accept_violations: bool = typer.Option(
        False, "--accept-violations", help="Store limits whose baseline breaks its own rules (audited)."
    ),
    by: str = By,
    reason: str = Reason,
) -> None:
    """Phase I: compute individuals limits from baseline lots and store them for the line (phase II)."""
    with database() as engine, session_scope(engine) as session:
        result = compute_limits(
            session,
            recipe_ref=recipe,
            unit=unit,
            layer_name=layer,
            characteristic=characteristic,
            lot_numbers=[n.strip() for n in lots.split(",") if n.strip()],
            rules=rules,
            run_length=run_length,
            segment_m=segment_m,
            by=by,
            reason=reason,
            accept_few_lots=accept_few_lots,
            accept_violations=accept_violations,
        )
    row = result.limit
    out.print(
        f"control limits for {recipe} {unit} {layer}.{characteristic}: center {row.center:.6g}, "
        f"UCL {row.ucl:.6g}, LCL {row.lcl:.6g} (σ {row.sigma:.4g}); baseline {result.lots} lot(s), "
        f"{result.segments} segments of {row.segment_m:g} m; "
        f"{result.baseline_violations} baseline point(s) violate the rules"
    )
    for accepted in result.accepted:
        out.print(f"accepted: {accepted}", markup=False)


@limits_app.command("list")
def limits_list(as_json: bool = AsJson) -> None:
    """Active control limits."""
    with database() as engine, session_scope(engine) as session:
        rows = list_limits(session)
    if as_json:
        print_json(rows)
        return
    columns = [
        ident("recipe"),
        ident("unit"),
        Column("layer"),
        Column("characteristic"),
        Column("center", justify="right"),
        Column("LCL", justify="right"),
        Column("UCL", justify="right"),
        Column("rules"),
        Column("n", justify="right"),
        ident("by"),
    ]
    table = [
        [
            r.recipe,
            r.unit,
            r.layer,
            r.characteristic,
            f"{r.center:.6g}",
            f"{r.lcl:.6g}",
            f"{r.ucl:.6g}",
            f"{r.rules}/{r.run_length}",
            str(r.n_baseline),
            r.created_by,
        ]
        for r in rows
    ]
    print_table(columns, table)


def _decide(
    decision: dispo.Decision,
    lot: str,
    intervals: list[int],
    by: str,
    reason: str,
    meaning: SignatureMeaning | None,
    stdin: bool,
) -> None:
    what = (
        f"{lot} interval{'s' if len(intervals) > 1 else ''} {', '.join(map(str, intervals))}"
        if intervals
        else lot
    )
    password = read_password(stdin, f"{decision.value} {what}")
    with database() as engine:
        try:
            with session_scope(engine) as session:
                done = dispo.decide(session, decision, lot, by=by, password=password, reason=reason,
                                    meaning=meaning, intervals=intervals)  # fmt: skip
        except MesError as exc:
            with session_scope(engine) as session:
                dispo.record_refusal(session, decision, lot, actor=by, error=exc, meaning=meaning)
            raise
    verb = dispo.DONE[decision]
    out.print(f"{what} {verb} by {by} (signed)")
    out.print(f"signature: {done.signature.meaning.value}, content SHA-256 {done.signature.content_sha256}")
    if done.blocked:
        out.print(f"held because they contain it: {', '.join(done.blocked)}")


def _decision_command(decision: dispo.Decision, doc: str) -> Callable[..., None]:
    default = dispo.DEFAULT_MEANING[decision]
    allowed = ", ".join(m.value for m in dispo.MEANINGS[decision])

    def command(
        lot: str = typer.Argument(...),
        interval: list[int] | None = Interval,
        by: str = By,
        reason: str = Reason,
        meaning: SignatureMeaning = typer.Option(
            default, "--meaning", help=f"What the signature means: {allowed}."
        ),
        password_stdin: bool = PasswordStdin,
    ) -> None:
        _decide(decision, lot, interval or [], by, reason, meaning, password_stdin)

    command.__doc__ = doc
    return command


lot_hold = _decision_command(
    dispo.Decision.HOLD,
    "Hold a lot or one interval of it, and every lot made from it (signed with the password).",
)
lot_release = _decision_command(
    dispo.Decision.RELEASE, "Release a held lot or interval (quality role; signed with the password)."
)
lot_scrap = _decision_command(
    dispo.Decision.SCRAP, "Scrap a lot or interval (quality role; signed); lots made from it go on hold."
)


class ReportFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


def lot_report(
    lot: str = typer.Argument(...),
    fmt: ReportFormat = typer.Option(
        ReportFormat.JSON,
        "--format",
        help="json, or csv: one table per section under a '# section' line, values rounded to the gauge.",
    ),
) -> None:
    """Quality report: layers, statistics, capability, intervals, alarms, dispositions, genealogy."""
    from mes.lots.orders import get_lot
    from mes.quality.report import lot_report as build
    from mes.quality.report_csv import report_csv

    with database() as engine, session_scope(engine) as session:
        report = build(session, get_lot(session, lot))
    if fmt == ReportFormat.CSV:
        typer.echo(report_csv(report), nl=False)
    else:
        print_json(report)
