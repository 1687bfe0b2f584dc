"""events: the event log, written by triggers on the tracked tables

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00.000000

Every insert of a work order, lot, step run, alarm or equipment unit, and every change of its state
(and of an alarm's shelving, a unit's health), inserts an ``event_log`` row in the same transaction.
The triggers, not the application, write it: a Core compare-and-set, another process or a hand-made
UPDATE leaves its event as an ORM flush does (decision 018).

Ids are the commit order. SQLite lets one writer at a time (its ids are in commit order as they
are). On PostgreSQL a row is first inserted with a negative pending id, and a deferred constraint
trigger numbers the transaction's rows at its commit, under an advisory lock held until the commit
is visible, then NOTIFYs ``mes_events`` with the newest id: a reader never sees id N+1 commit
before N. The lock is taken only in the commit phase, where a transaction waits for nothing else,
so it cannot deadlock with the rows' locks.

A SQLite batch migration that rebuilds one of these tables drops its triggers: recreate them with
:func:`create_triggers` (``tests/events/test_log.py`` fails while one is missing).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

import mes.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# "MESE": any constant no other lock of the MES uses (the audit chain's is "MESA").
NUMBERING_LOCK_KEY = 0x4D45_5345
NOTIFY_CHANNEL = "mes_events"
TEXT_MAX = 300  # longer text (a step's error, an alarm's message) is cut in the payload


@dataclass(frozen=True)
class Tracked:
    table: str
    kind: str
    entity: str  # the column that names the row
    state: str  # its state column
    also: tuple[str, ...] = ()  # other columns whose change is an event
    unit: str | None = None  # columns that give event_log.unit_id, lot_id, order_id
    lot: str | None = None
    order: str | None = None
    # payload key → (column, type: text | number | bool | time)
    payload: tuple[tuple[str, str, str], ...] = ()


TRACKED = (
    Tracked(
        "work_order", "order", "number", "state", order="id",
        payload=(("lots_requested", "lots_requested", "number"), ("lots_created", "lots_created", "number"),
                 ("priority", "priority", "number")),
    ),
    Tracked(
        "lot", "lot", "number", "status", lot="id", order="work_order_id",
        payload=(("lot_kind", "kind", "text"),),
    ),
    Tracked(
        "step_run", "step", "job_id", "state", unit="equipment_unit_id", lot="lot_id",
        payload=(("step", "step_name", "text"), ("index", "step_index", "number"),
                 ("attempt", "attempt", "number"), ("error", "error", "text")),
    ),
    Tracked(
        "alarm", "alarm", "condition", "state", also=("is_open", "shelved_until"),
        unit="equipment_unit_id", lot="lot_id",
        payload=(("priority", "priority", "text"), ("message", "message", "text"),
                 ("open", "is_open", "bool"), ("shelved_until", "shelved_until", "time"),
                 ("acknowledged_by", "acknowledged_by", "text")),
    ),
    Tracked(
        "equipment_unit", "unit", "name", "last_state", also=("healthy", "enabled"), unit="id",
        payload=(("healthy", "healthy", "bool"), ("enabled", "enabled", "bool"),
                 ("reason", "health_reason", "text")),
    ),
)  # fmt: skip

COLUMNS = "occurred_at, kind, entity_id, entity, state, from_state, unit_id, lot_id, order_id, payload"


def _new(column: str | None) -> str:
    return f"NEW.{column}" if column else "NULL"


def _payload(t: Tracked, postgresql: bool) -> str:
    parts: list[str] = []
    for key, column, kind in t.payload:
        value = f"NEW.{column}"
        if kind == "text":
            value = f"left({value}, {TEXT_MAX})" if postgresql else f"substr({value}, 1, {TEXT_MAX})"
        elif kind == "bool" and not postgresql:  # SQLite keeps booleans as 0/1
            value = f"json(CASE WHEN {value} THEN 'true' ELSE 'false' END)"
        parts += [f"'{key}'", value]
    return ("json_build_object(" if postgresql else "json_object(") + ", ".join(parts) + ")"


def _changed(t: Tracked, postgresql: bool) -> str:
    differs = "IS DISTINCT FROM" if postgresql else "IS NOT"
    return " OR ".join(f"OLD.{c} {differs} NEW.{c}" for c in (t.state, *t.also))


def _pg_function(t: Tracked) -> str:
    values = ", ".join(
        [
            "-nextval('event_log_pending_seq')",
            "clock_timestamp()",
            f"'{t.kind}'",
            "NEW.id",
            f"NEW.{t.entity}",
            f"NEW.{t.state}",
            "before",
            _new(t.unit),
            _new(t.lot),
            _new(t.order),
            _payload(t, postgresql=True),
        ]
    )
    # Names and expressions from TRACKED, no outside input (so in every statement built here).
    return f"""
CREATE FUNCTION event_log_from_{t.table}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE before text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        before := OLD.{t.state};
    END IF;
    INSERT INTO event_log (id, {COLUMNS}) VALUES ({values});
    RETURN NULL;
END
$$"""  # noqa: S608


_PG_NUMBER = f"""
CREATE FUNCTION event_log_number() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pending bigint;
    newest bigint;
BEGIN
    -- Other transactions' pending rows are invisible here: these are this transaction's own,
    -- numbered by the first of its deferred calls (the others find none).
    PERFORM 1 FROM event_log WHERE id < 0 LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock({NUMBERING_LOCK_KEY});
    FOR pending IN SELECT id FROM event_log WHERE id < 0 ORDER BY id DESC LOOP
        UPDATE event_log SET id = nextval(pg_get_serial_sequence('event_log', 'id'))
            WHERE id = pending RETURNING id INTO newest;
    END LOOP;
    PERFORM pg_notify('{NOTIFY_CHANNEL}', newest::text);
    RETURN NULL;
END
$$"""  # noqa: S608


def _sqlite_trigger(t: Tracked, update: bool) -> str:
    values = ", ".join(
        [
            "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'",  # UTCDateTime's form on SQLite
            f"'{t.kind}'",
            "NEW.id",
            f"NEW.{t.entity}",
            f"NEW.{t.state}",
            f"OLD.{t.state}" if update else "NULL",
            _new(t.unit),
            _new(t.lot),
            _new(t.order),
            _payload(t, postgresql=False),
        ]
    )
    name = f"event_log_{t.table}_{'update' if update else 'insert'}"
    when = f" WHEN {_changed(t, postgresql=False)}" if update else ""
    head = f"CREATE TRIGGER {name} AFTER {'UPDATE' if update else 'INSERT'} ON {t.table}{when}"
    return f"{head} BEGIN INSERT INTO event_log ({COLUMNS}) VALUES ({values}); END"  # noqa: S608


def create_triggers(table: str | None = None) -> None:
    """The event triggers of every tracked table (or of ``table`` alone)."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for t in TRACKED:
        if table is not None and t.table != table:
            continue
        if postgresql:
            op.execute(_pg_function(t))
            op.execute(
                f"CREATE TRIGGER event_log_{t.table}_insert AFTER INSERT ON {t.table} "
                f"FOR EACH ROW EXECUTE FUNCTION event_log_from_{t.table}()"
            )
            op.execute(
                f"CREATE TRIGGER event_log_{t.table}_update AFTER UPDATE ON {t.table} FOR EACH ROW "
                f"WHEN ({_changed(t, postgresql=True)}) EXECUTE FUNCTION event_log_from_{t.table}()"
            )
        else:
            op.execute(_sqlite_trigger(t, update=False))
            op.execute(_sqlite_trigger(t, update=True))


def drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for t in TRACKED:
        for verb in ("insert", "update"):
            on = f" ON {t.table}" if postgresql else ""
            op.execute(f"DROP TRIGGER IF EXISTS event_log_{t.table}_{verb}{on}")
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS event_log_from_{t.table}()")


def upgrade() -> None:
    op.create_table(
        "event_log",
        sa.Column("id", mes.base.BigIntPK, nullable=False),
        sa.Column("occurred_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "order",
                "step",
                "lot",
                "alarm",
                "unit",
                name="event_kind",
                native_enum=False,
                create_constraint=True,
                length=8,
            ),
            nullable=False,
        ),  # fmt: skip
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_log_occurred_at"), ["occurred_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE event_log_pending_seq")
        op.execute(_PG_NUMBER)
        op.execute(
            "CREATE CONSTRAINT TRIGGER event_log_number AFTER INSERT ON event_log "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION event_log_number()"
        )
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS event_log_number ON event_log")
        op.execute("DROP FUNCTION IF EXISTS event_log_number()")
        op.execute("DROP SEQUENCE IF EXISTS event_log_pending_seq")
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_log_occurred_at"))
    op.drop_table("event_log")
