"""Migrations and tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlmodel import Session, select

from mes.base import pk
from mes.db import make_engine, session_scope
from mes.equipment.models import EquipmentClass
from mes.errors import SchemaNotCurrent
from mes.lots.models import Disposition, LotKind
from mes.migrate import alembic_config, current_revision, head_revision, require_current, schema_diff, upgrade
from mes.models import (
    Alarm,
    AuditEvent,
    Characteristic,
    GaugeScan,
    Layer,
    Lot,
    StepRun,
)
from mes.quality.models import AlarmPriority, AlarmState


def test_upgrade_creates_the_schema_and_is_safe_to_run_twice(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == (None, head_revision())
    assert upgrade(engine) == (head_revision(), head_revision())
    assert require_current(engine) == head_revision()
    engine.dispose()


def test_models_and_migrations_agree(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine)
    assert schema_diff(engine) == []
    engine.dispose()


def test_downgrade_to_base_and_up_again(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine)
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert schema_diff(engine) == []
    engine.dispose()


def test_unmigrated_and_unknown_revisions_are_refused(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    with pytest.raises(SchemaNotCurrent, match="no MES schema; run `mes db upgrade`"):
        require_current(engine)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(SchemaNotCurrent, match="revision ffff"):
        require_current(engine)
    engine.dispose()


def _lot(session: Session, number: str = "A-0001") -> Lot:
    lot = Lot(number=number, kind=LotKind.ANODE, length_m=1000.0, width_mm=300.0)
    session.add(lot)
    session.flush()
    return lot


def _characteristic(session: Session, lot: Lot) -> Characteristic:
    layer = Layer(
        lot_id=pk(lot),
        layer_index=0,
        name="si-active",
        material="Si",
        method="rf_sputter",
        disposition_policy=Disposition.HOLD_INTERVAL,
    )
    session.add(layer)
    session.flush()
    char = Characteristic(
        layer_id=pk(layer), name="thickness", unit="nm", target=4000, lsl=3800, usl=4200,
        gauge="xrf-1", pitch_m=0.01, lanes=8,
    )  # fmt: skip
    session.add(char)
    session.flush()
    return char


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(StepRun(lot_id=999, step_index=0, step_name="x", equipment_class=EquipmentClass.SPUTTER,
                            job_id="J-1"))  # fmt: skip


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        _lot(session)
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert session.exec(select(Lot)).all() == []


def test_gauge_scan_keeps_lane_values_and_is_unique_per_sequence(engine: Engine) -> None:
    lanes = [4001.5, 3999.25, 4010.0, 3980.125]
    measured = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        lot = _lot(session)
        char = _characteristic(session, lot)
        scan = GaugeScan(
            lot_id=pk(lot), layer_id=char.layer_id, characteristic_id=pk(char), seq=7, position_m=12.34,
            measured_at=measured, lane_values=lanes, min_value=min(lanes), mean_value=sum(lanes) / 4,
            max_value=max(lanes),
        )  # fmt: skip
        session.add(scan)
        char_id = pk(char)
    with session_scope(engine) as session:
        stored = session.exec(select(GaugeScan)).one()
        assert stored.lane_values == lanes
        assert stored.measured_at == measured
        assert stored.measured_at.tzinfo is not None
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        dup = GaugeScan(
            lot_id=stored.lot_id, layer_id=stored.layer_id, characteristic_id=char_id, seq=7,
            position_m=12.34, measured_at=measured, lane_values=lanes, min_value=0, mean_value=0, max_value=0,
        )  # fmt: skip
        session.add(dup)


def test_characteristic_limits_must_be_ordered(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        lot = _lot(session)
        char = _characteristic(session, lot)
        char.lsl, char.usl = 5000, 4000
        session.flush()


def test_audit_trail_is_append_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(AuditEvent(actor="alice", action="recipe.release", entity_type="recipe", entity_id="1",
                               prev_hash="0" * 64, hash="a" * 64))  # fmt: skip
    for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with session_scope(engine) as session:
        assert session.exec(select(AuditEvent.actor)).all() == ["alice"]


def test_one_open_alarm_per_condition(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Alarm(condition="sputter-1:arc", message="arc burst", priority=AlarmPriority.HIGH))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Alarm(condition="sputter-1:arc", message="arc burst", priority=AlarmPriority.HIGH))
    with session_scope(engine) as session:
        first = session.exec(select(Alarm)).one()
        first.state, first.is_open = AlarmState.NORMAL, False
    with session_scope(engine) as session:
        session.add(Alarm(condition="sputter-1:arc", message="arc burst again", priority=AlarmPriority.HIGH))
    with session_scope(engine) as session:
        assert len(session.exec(select(Alarm)).all()) == 2


def test_enum_columns_reject_unknown_values(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO lot (number, kind, status, length_m, material, created_at, updated_at) "
            "VALUES ('X', 'anode', 'lost', 10, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))  # fmt: skip


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: pytest.TempPathFactory) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db", sqlite_busy_timeout_ms=1234)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    engine.dispose()
