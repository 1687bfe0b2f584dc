"""Signed hold / release / scrap of lots and intervals, and blocking of what was made from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.audit.service import verify_chain
from mes.auth.errors import AuthError
from mes.auth.models import Role
from mes.auth.service import create_user
from mes.base import pk
from mes.db import make_engine, session_scope
from mes.lots.genealogy import usable_segments
from mes.lots.models import (
    Characteristic,
    Disposition,
    GenealogyLink,
    IntervalStatus,
    Layer,
    Lot,
    LotKind,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
)
from mes.migrate import upgrade
from mes.quality.alarms import journal, raise_alarm
from mes.quality.disposition import Decision, decide
from mes.quality.errors import DispositionError
from mes.quality.models import Alarm, AlarmState
from tests.test_cli import assert_one_line_error, run_mes

PW = {"op": "operator-pw", "qa": "quality-pw", "eng": "engineer-pw"}


@dataclass
class Plant:
    engine: Engine
    anode: str
    interval_id: int
    cells: list[str]  # C1 uses 0–20 m (contains the interval), C2 20–40 m, C3 50–60 m


def build(engine: Engine) -> Plant:
    with session_scope(engine) as session:
        create_user(session, "op", Role.OPERATOR, PW["op"])
        create_user(session, "qa", Role.QUALITY, PW["qa"])
        create_user(session, "eng", Role.ENGINEER, PW["eng"])
        anode = Lot(number="A-1", kind=LotKind.ANODE, status=LotStatus.RELEASED, length_m=100)
        session.add(anode)
        session.flush()
        layer = Layer(
            lot_id=anode.id or 0,
            layer_index=0,
            name="si",
            material="Si",
            method="sputter",
            disposition_policy=Disposition.FLAG_ONLY,
        )
        session.add(layer)
        session.flush()
        char = Characteristic(
            layer_id=layer.id or 0,
            name="thickness",
            unit="nm",
            target=4000,
            lsl=3800,
            usl=4200,
            gauge="g",
            pitch_m=0.01,
            lanes=8,
        )
        session.add(char)
        session.flush()
        interval = OosInterval(
            lot_id=anode.id or 0,
            layer_id=layer.id or 0,
            characteristic_id=char.id or 0,
            start_m=10,
            end_m=12,
            worst_value=4300,
            limit_value=4200,
            limit_kind="usl",
            disposition=Disposition.FLAG_ONLY,
            status=IntervalStatus.FLAGGED,
        )
        session.add(interval)
        cells = []
        for number, (a, b) in {"C-1": (0, 20), "C-2": (20, 40), "C-3": (50, 60)}.items():
            cell = Lot(number=number, kind=LotKind.CELL, status=LotStatus.RELEASED, length_m=5)
            session.add(cell)
            session.flush()
            session.add(
                GenealogyLink(
                    parent_lot_id=anode.id or 0,
                    parent_start_m=a,
                    parent_end_m=b,
                    child_lot_id=cell.id or 0,
                    role="anode",
                )
            )
            cells.append(number)
        session.flush()
        return Plant(engine, anode.number, interval.id or 0, cells)


@pytest.fixture
def plant(engine: Engine) -> Plant:
    return build(engine)


def _status(session: Session, number: str) -> LotStatus:
    return session.exec(select(Lot).where(Lot.number == number)).one().status


def _decide(
    plant: Plant, decision: Decision, by: str, *, interval: bool = False, pw: str | None = None
) -> list[str]:
    with session_scope(plant.engine) as session:
        return decide(
            session,
            decision,
            plant.anode,
            by=by,
            password=pw if pw is not None else PW[by],
            reason="gauge check",
            intervals=[plant.interval_id] if interval else [],
        ).blocked


def test_holding_an_interval_blocks_only_the_cells_made_from_it(plant: Plant) -> None:
    assert _decide(plant, Decision.HOLD, "op", interval=True) == ["C-1"]
    with session_scope(plant.engine) as session:
        interval = session.get(OosInterval, plant.interval_id)
        assert interval is not None and interval.status == IntervalStatus.HELD
        assert interval.dispositioned_by == "op"
        assert [_status(session, c) for c in plant.cells] == [
            LotStatus.ON_HOLD,
            LotStatus.RELEASED,
            LotStatus.RELEASED,
        ]
        anode = session.exec(select(Lot).where(Lot.number == plant.anode)).one()
        assert all(not (a < 12 and b > 10) for a, b in usable_segments(session, anode))
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        assert [(e.action, e.entity_id, e.actor) for e in events] == [
            ("e-signature", "A-1", "op"),
            ("interval.hold", f"A-1#{plant.interval_id}", "op"),
            ("lot.hold", "C-1", "system"),
        ]
        signed = events[0].after
        assert signed is not None and (signed["signs"], signed["meaning"]) == (
            "interval.hold",
            "responsibility",
        )
        assert events[1].after is not None
        assert events[1].after["signature"] == {
            "by": "op",
            "meaning": "responsibility",
            "content_sha256": signed["content_sha256"],
        }
        assert (
            events[2].after is not None and events[2].after["blocked_by"] == "A-1 10.00–12.01 m"
        )  # + 1 pitch


def test_release_needs_the_quality_role_and_the_password(plant: Plant) -> None:
    _decide(plant, Decision.HOLD, "op", interval=True)
    for by in ("op", "eng"):
        with pytest.raises(AuthError, match="needs the quality role"):
            _decide(plant, Decision.RELEASE, by, interval=True)
    with pytest.raises(AuthError, match="wrong password"):
        _decide(plant, Decision.RELEASE, "qa", interval=True, pw="guess")
    assert _decide(plant, Decision.RELEASE, "qa", interval=True) == []
    with session_scope(plant.engine) as session:
        interval = session.get(OosInterval, plant.interval_id)
        assert interval is not None and interval.status == IntervalStatus.RELEASED
        assert _status(session, "C-1") == LotStatus.ON_HOLD  # the cell is a decision of its own
        assert verify_chain(session).ok


def test_lot_hold_release_and_scrap(plant: Plant) -> None:
    assert _decide(plant, Decision.HOLD, "op") == ["C-1", "C-2", "C-3"]
    with pytest.raises(DispositionError, match="only a planned or in_process or released lot"):
        _decide(plant, Decision.HOLD, "op")
    _decide(plant, Decision.RELEASE, "qa")
    with session_scope(plant.engine) as session:
        assert _status(session, plant.anode) == LotStatus.RELEASED  # no steps to run: released
    with pytest.raises(DispositionError, match="only a on_hold lot can be released"):
        _decide(plant, Decision.RELEASE, "qa")
    with pytest.raises(AuthError, match="quality role"):
        _decide(plant, Decision.SCRAP, "op")
    _decide(plant, Decision.SCRAP, "qa", interval=True)
    _decide(plant, Decision.SCRAP, "qa")
    with session_scope(plant.engine) as session:
        assert _status(session, plant.anode) == LotStatus.REJECTED
        interval = session.get(OosInterval, plant.interval_id)
        assert interval is not None and interval.status == IntervalStatus.SCRAPPED


def test_a_reason_and_a_real_interval_are_required(plant: Plant) -> None:
    with session_scope(plant.engine) as session, pytest.raises(DispositionError, match="reason is required"):
        decide(session, Decision.HOLD, plant.anode, by="op", password=PW["op"], reason="  ")
    with session_scope(plant.engine) as session, pytest.raises(DispositionError, match="has no interval 999"):
        decide(session, Decision.HOLD, plant.anode, by="op", password=PW["op"], reason="x", intervals=[999])


def test_a_lot_whose_step_failed_cannot_be_released(plant: Plant) -> None:
    with session_scope(plant.engine) as session:
        lot = session.exec(select(Lot).where(Lot.number == plant.anode)).one()
        session.add(
            StepRun(
                lot_id=lot.id or 0,
                step_index=0,
                step_name="si-active",
                equipment_class="sputter",  # type: ignore[arg-type]
                job_id="J-1",
                state=StepRunState.FAILED,
            )
        )
    _decide(plant, Decision.HOLD, "op")
    with pytest.raises(DispositionError, match="step 0 \\(si-active\\) is failed"):
        _decide(plant, Decision.RELEASE, "qa")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_cli_signs_and_audits_refusals(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    plant = build(engine)
    env = {"MES_DATABASE_URL": db_url}
    interval = str(plant.interval_id)
    args = ["lot", "release", "A-1", "--interval", interval, "--by", "qa", "--reason", "re-measured"]

    held = run_mes("lot", "hold", "A-1", "--interval", interval, "--by", "op", "--reason", "check",
                   "--password-stdin", env=env, cwd=tmp_path, stdin=PW["op"] + "\n")  # fmt: skip
    assert held.returncode == 0, held.stderr
    assert "C-1" in held.stdout
    # The cell says why it is held: made from the held metres, on op's signed decision.
    [blocked] = json.loads(run_mes("lot", "show", "C-1", "--json", env=env, cwd=tmp_path).stdout)["holds"]
    assert (blocked["source"], blocked["by"], blocked["signed"]) == ("blocked", "op", False)
    assert blocked["what"].startswith("made from A-1 ") and blocked["what"].endswith(": check")
    assert_one_line_error(
        run_mes(*args, "--password-stdin", env=env, cwd=tmp_path, stdin="guess\n"), "wrong password"
    )
    # No password to read: a usage error, exit 2 (it was 1).
    assert_one_line_error(run_mes(*args, env=env, cwd=tmp_path), "--password-stdin", code=2)
    op_args = [a if a != "qa" else "op" for a in args]
    assert_one_line_error(
        run_mes(*op_args, "--password-stdin", env=env, cwd=tmp_path, stdin=PW["op"] + "\n"), "quality role"
    )
    ok = run_mes(*args, "--password-stdin", env=env, cwd=tmp_path, stdin=PW["qa"] + "\n")
    assert ok.returncode == 0 and "released by qa (signed)" in ok.stdout

    report = run_mes("lot", "report", "A-1", env=env, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    # Each signed decision comes with its signature record (meaning, content hash) just before it.
    assert [d["action"] for d in data["dispositions"]] == [
        "e-signature",
        "interval.hold",
        "lot.release.refused",
        "lot.release.refused",
        "e-signature",
        "interval.release",
    ]
    assert [d["after"]["meaning"] for d in data["dispositions"] if d["action"] == "e-signature"] == [
        "responsibility",
        "approval",
    ]
    assert data["intervals"][0]["status"] == "released"
    assert {h["number"] for h in data["genealogy"]["forward"]} == {"C-1", "C-2", "C-3"}
    csv_report = run_mes("lot", "report", "A-1", "--format", "csv", env=env, cwd=tmp_path)
    assert csv_report.stdout.startswith("# lot\nlot,kind,status,")
    intervals = csv_report.stdout.split("# intervals\n")[1].split("\n\n")[0].splitlines()
    header, [row] = intervals[0].split(","), [line.split(",") for line in intervals[1:]]
    assert dict(zip(header, row, strict=True))["status"] == "released"
    assert_one_line_error(run_mes("lot", "report", "NOPE", env=env, cwd=tmp_path), "no lot NOPE")
    engine.dispose()


def test_a_lone_excursion_holds_the_cell_that_starts_at_it(plant: Plant) -> None:
    """An interval of one scan (start = end) stands for one pitch of band: holding it works and
    blocks the cell whose metres begin at that scan, not the one that ends there."""
    with session_scope(plant.engine) as session:
        first = session.get(OosInterval, plant.interval_id)
        assert first is not None
        lone = OosInterval(lot_id=first.lot_id, layer_id=first.layer_id, characteristic_id=first.characteristic_id,
                           start_m=20, end_m=20, worst_value=4250, limit_value=4200, limit_kind="usl",
                           disposition=Disposition.FLAG_ONLY, status=IntervalStatus.FLAGGED)  # fmt: skip
        session.add(lone)
        session.flush()
        lone_id = pk(lone)
    with session_scope(plant.engine) as session:
        blocked = decide(session, Decision.HOLD, plant.anode, by="op", password=PW["op"], reason="spike",
                         intervals=[lone_id]).blocked  # fmt: skip
        assert blocked == ["C-2"]
        anode = session.exec(select(Lot).where(Lot.number == plant.anode)).one()
        assert all(not (a < 20.01 and b > 20) for a, b in usable_segments(session, anode))


def test_scrapping_a_lot_ends_its_open_alarms(plant: Plant) -> None:
    with session_scope(plant.engine) as session:
        lot = session.exec(select(Lot).where(Lot.number == plant.anode)).one()
        raise_alarm(session, "step:1:failed", "A-1 step failed", lot_id=lot.id)
    _decide(plant, Decision.SCRAP, "qa")
    with session_scope(plant.engine) as session:
        alarm = session.exec(select(Alarm)).one()
        assert alarm.state == AlarmState.CLEARED_UNACK  # over, still to be acknowledged
        clears = [j for j in journal(session, alarm.id or 0) if j.transition == "clear"]
        assert [(j.actor, j.comment) for j in clears] == [("qa", "lot scrapped: gauge check")]
