"""Tables for what the line makes: work orders, lots, step runs, layers and their measurements.

Lengths along the band are metres from the start of the roll (``*_m``); widths
are millimetres (``*_mm``).
"""

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mes.base import BigIntPK, LaneValues, UTCDateTime, enum_type, utcnow
from mes.vocabulary import Disposition as Disposition  # re-exported for the table's users
from mes.vocabulary import EquipmentClass


class WorkOrderState(enum.StrEnum):
    """ISA-95 job order states (the sub-states of OPC 10031-4's, see :func:`job_order_state`).

    ``waiting``: stored, not allowed to start until someone starts it; ``ready``: allowed to start,
    handed to the dispatcher; ``held``: nothing left to run but a lot of it is on hold (quality);
    ``suspended``: paused by a person, its running steps' units in PackML Held; a work order
    cancelled before production is ``aborted``.
    """

    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    HELD = "held"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    ABORTED = "aborted"
    CLOSED = "closed"


class JobOrderState(enum.StrEnum):
    """The job order states of OPC 10031-4 (ISA-95 Job Control), as a client of it names them."""

    NOT_ALLOWED_TO_START = "NotAllowedToStart"
    ALLOWED_TO_START = "AllowedToStart"
    RUNNING = "Running"
    INTERRUPTED = "Interrupted"
    ENDED = "Ended"
    ABORTED = "Aborted"


# Each work order state is a sub-state of one OPC 10031-4 state (its state machine nests Ready and
# Waiting, Held and Suspended, Completed and Closed the same way).
_JOB_ORDER_STATES: dict[WorkOrderState, JobOrderState] = {
    WorkOrderState.WAITING: JobOrderState.NOT_ALLOWED_TO_START,
    WorkOrderState.READY: JobOrderState.ALLOWED_TO_START,
    WorkOrderState.RUNNING: JobOrderState.RUNNING,
    WorkOrderState.HELD: JobOrderState.INTERRUPTED,
    WorkOrderState.SUSPENDED: JobOrderState.INTERRUPTED,
    WorkOrderState.COMPLETED: JobOrderState.ENDED,
    WorkOrderState.CLOSED: JobOrderState.ENDED,
    WorkOrderState.ABORTED: JobOrderState.ABORTED,
}


def job_order_state(state: WorkOrderState) -> JobOrderState:
    """The OPC 10031-4 job order state a work order in ``state`` is in.

    =========  ==================  ====================================================
    state      job order state     meaning here
    =========  ==================  ====================================================
    waiting    NotAllowedToStart   stored (``"start": false``); nothing runs until Start
    ready      AllowedToStart      handed to the dispatcher; no lot made yet
    running    Running             its lots are being made
    held       Interrupted         nothing left to run, but a lot is on hold (quality)
    suspended  Interrupted         paused by a person: running units in PackML Held
    completed  Ended               every lot made and judged
    closed     Ended               closed after completion
    aborted    Aborted             cancelled before production, or aborted during it
    =========  ==================  ====================================================
    """
    return _JOB_ORDER_STATES[state]


class LotKind(enum.StrEnum):
    ANODE = "anode"
    CATHODE = "cathode"
    SEPARATOR = "separator"
    CELL = "cell"
    # Purchased webs the line coats on: received with the supplier's lot number
    # so that genealogy reaches the supplier.
    FOIL = "foil"
    SUBSTRATE = "substrate"


class LotStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROCESS = "in_process"
    ON_HOLD = "on_hold"
    RELEASED = "released"
    REJECTED = "rejected"
    CONSUMED = "consumed"
    # Its work order was cancelled before anything of it was made: no material exists.
    CANCELLED = "cancelled"


class StepRunState(enum.StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    HELD = "held"
    ABORTED = "aborted"


class LayerResult(enum.StrEnum):
    """A characteristic's (or layer's) verdict; only ``in_spec`` is good.

    ``incomplete``: the gauge covered less of the roll than the recipe requires
    (a dead gauge, missed scans, NaN lanes), so the metres it did not measure
    cannot be judged — never in spec, whatever the measured metres say.
    """

    PENDING = "pending"
    IN_SPEC = "in_spec"
    OUT_OF_SPEC = "out_of_spec"
    INCOMPLETE = "incomplete"


class IntervalKind(enum.StrEnum):
    OUT_OF_SPEC = "out_of_spec"  # measured, beyond a limit
    UNMEASURED = "unmeasured"  # no usable scan over a stretch longer than the recipe tolerates


class IntervalStatus(enum.StrEnum):
    OPEN = "open"  # the excursion is still going on
    FLAGGED = "flagged"
    HELD = "held"
    RELEASED = "released"
    SCRAPPED = "scrapped"


class WorkOrder(SQLModel, table=True):
    __tablename__ = "work_order"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True)
    recipe_id: int = Field(foreign_key="recipe.id", index=True)
    lots_requested: int = Field(ge=1)
    # Overrides the recipe's lot size: metres for an electrode lot, cells for a cell lot.
    lot_size: float | None = Field(default=None, gt=0)
    lots_created: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": "0"})
    priority: int = Field(default=100)
    state: WorkOrderState = Field(default=WorkOrderState.WAITING, sa_type=enum_type(WorkOrderState))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The caller's key for "this request": asking again with it returns this order instead of
    # making another (a retry after a lost answer, the API's Idempotency-Key header).
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)

    __table_args__ = (sa.Index("ix_work_order_state_priority", "state", "priority"),)


class Lot(SQLModel, table=True):
    __tablename__ = "lot"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True)
    kind: LotKind = Field(sa_type=enum_type(LotKind), index=True)
    status: LotStatus = Field(default=LotStatus.PLANNED, sa_type=enum_type(LotStatus), index=True)
    length_m: float = Field(gt=0)
    width_mm: float | None = Field(default=None, gt=0)
    work_order_id: int | None = Field(default=None, foreign_key="work_order.id", index=True)
    recipe_id: int | None = Field(default=None, foreign_key="recipe.id")
    recipe_hash: str | None = Field(default=None, max_length=64)
    material: str = Field(default="", max_length=200)
    supplier: str | None = Field(default=None, max_length=200)
    supplier_lot: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StepRun(SQLModel, table=True):
    """One recipe step of one lot on one unit; the SQL row is the truth a task re-reads."""

    __tablename__ = "step_run"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="lot.id")
    step_index: int = Field(ge=0)
    step_name: str = Field(max_length=100)
    equipment_class: EquipmentClass = Field(sa_type=enum_type(EquipmentClass))
    equipment_unit_id: int | None = Field(default=None, foreign_key="equipment_unit.id", index=True)
    state: StepRunState = Field(default=StepRunState.PENDING, sa_type=enum_type(StepRunState), index=True)
    attempt: int = Field(default=0, ge=0)
    # Written to the machine before Start; the machine refuses a second Start for
    # a job id it has run, which is what makes a redelivered task harmless.
    job_id: str = Field(max_length=64, unique=True)
    setpoints_sent: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    lease_token: int | None = Field(default=None)
    # Identifies the live chain of advance_step tasks; a task carrying an older
    # token is a duplicate and stops (see workers/tasks.py).
    chain_token: str | None = Field(default=None, max_length=32)
    # Each gauge's last sequence number before Start and at Complete: the scans
    # in between are this step's, whichever process ingests them.
    gauge_seq_start: dict[str, int] | None = Field(default=None, sa_type=sa.JSON)
    gauge_seq_end: dict[str, int] | None = Field(default=None, sa_type=sa.JSON)
    time_limit_s: float | None = Field(default=None, gt=0)
    error: str | None = Field(default=None, sa_type=sa.Text)
    # Failed attempts to reach the unit in the current streak, and when the streak began:
    # kept on the row so that the budget survives redelivery and a new chain from the
    # reconciler (workers/tasks.py holds the step once both are spent).
    link_failures: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": "0"})
    link_failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Moves that ended in an unexpected exception, in a row: a few, then the step is held.
    faults: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": "0"})
    # When the unit was first seen out of Idle with this job id (or its start count rose):
    # the only evidence that lets "Idle with our job id" mean "ran and was reset".
    seen_running_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A person paused the step's work order: its chain holds the unit (PackML Hold, confirmed) while
    # the order stays paused, and Unholds it once resumed; cleared when the unit is seen unheld.
    # Written before any Hold is sent, so an Unhold is never forgotten (decision 016).
    pause_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the step's chain saw the unit Held for a pause or a lot hold; cleared on Unhold.
    unit_held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Seconds the unit spent Held by the MES: the step's time limit does not count them.
    held_s: float = Field(default=0.0, ge=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("lot_id", "step_index"),)


class Layer(SQLModel, table=True):
    __tablename__ = "layer"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="lot.id")
    step_run_id: int | None = Field(default=None, foreign_key="step_run.id", index=True)
    layer_index: int = Field(ge=0)
    name: str = Field(max_length=100)
    material: str = Field(max_length=200)
    method: str = Field(max_length=64)
    disposition_policy: Disposition = Field(sa_type=enum_type(Disposition))
    result: LayerResult = Field(default=LayerResult.PENDING, sa_type=enum_type(LayerResult))
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("lot_id", "layer_index"),)


class Characteristic(SQLModel, table=True):
    """A measured property of a layer (thickness, coat weight, …) with its spec and statistics."""

    __tablename__ = "characteristic"

    id: int | None = Field(default=None, primary_key=True)
    layer_id: int = Field(foreign_key="layer.id")
    name: str = Field(max_length=64)
    unit: str = Field(max_length=32)
    target: float
    lsl: float
    usl: float
    gauge: str = Field(max_length=64)
    pitch_m: float = Field(gt=0)
    lanes: int = Field(ge=1)
    # The recipe's coverage requirement (see ``CharacteristicSpec``) and what the close found.
    min_coverage_pct: float = Field(default=100.0, sa_column_kwargs={"server_default": "100"})
    max_gap_pitches: int = Field(default=2, ge=0, sa_column_kwargs={"server_default": "2"})
    measured_m: float | None = Field(default=None, ge=0)
    result: LayerResult = Field(default=LayerResult.PENDING, sa_type=enum_type(LayerResult))
    n_values: int = Field(default=0, ge=0)
    min_value: float | None = None
    mean_value: float | None = None
    max_value: float | None = None
    stddev_value: float | None = None

    __table_args__ = (
        sa.UniqueConstraint("layer_id", "name"),
        sa.CheckConstraint("lsl < usl", name="limits_ordered"),
    )


class GaugeScan(SQLModel, table=True):
    """One cross-web scan of an inline gauge: all lanes at one position along the band."""

    __tablename__ = "gauge_scan"

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    lot_id: int = Field(foreign_key="lot.id")
    layer_id: int = Field(foreign_key="layer.id")
    characteristic_id: int = Field(foreign_key="characteristic.id")
    # The gauge's own sequence number: unique per characteristic so that a
    # backfill after a lost link can insert the same scan again harmlessly.
    seq: int = Field(sa_type=sa.BigInteger, ge=0)
    position_m: float
    measured_at: datetime = Field(sa_type=UTCDateTime)
    lane_values: list[float] = Field(sa_type=LaneValues)
    # Over the finite lanes only; NULL when no lane of the scan is a number (NaN, ±Inf).
    min_value: float | None = None
    mean_value: float | None = None
    max_value: float | None = None

    __table_args__ = (
        sa.UniqueConstraint("characteristic_id", "seq"),
        sa.Index("ix_gauge_scan_lot_layer_position", "lot_id", "layer_id", "position_m"),
        sa.Index("ix_gauge_scan_characteristic_position", "characteristic_id", "position_m"),
    )


class OosInterval(SQLModel, table=True):
    """A stretch of band ``[start_m, end_m]`` where a characteristic was out of spec or not measured.

    ``kind`` ``unmeasured``: ``start_m``/``end_m`` bound the unmeasured band exactly,
    and there is no worst value or limit (``limit_kind`` ``none``).
    """

    __tablename__ = "oos_interval"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="lot.id")
    layer_id: int = Field(foreign_key="layer.id", index=True)
    characteristic_id: int = Field(foreign_key="characteristic.id", index=True)
    kind: IntervalKind = Field(
        default=IntervalKind.OUT_OF_SPEC,
        sa_type=enum_type(IntervalKind),
        sa_column_kwargs={"server_default": IntervalKind.OUT_OF_SPEC.value},
    )
    start_m: float
    end_m: float
    worst_value: float | None = None
    limit_value: float | None = None
    limit_kind: str = Field(max_length=8)  # "lsl", "usl" or "none" (unmeasured)
    disposition: Disposition = Field(sa_type=enum_type(Disposition))
    status: IntervalStatus = Field(default=IntervalStatus.OPEN, sa_type=enum_type(IntervalStatus))
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dispositioned_by: str | None = Field(default=None, max_length=64)
    dispositioned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("end_m >= start_m", name="interval_ordered"),
        sa.Index("ix_oos_interval_lot_start", "lot_id", "start_m"),
    )


class GenealogyLink(SQLModel, table=True):
    """Metres ``[parent_start_m, parent_end_m]`` of a parent lot went into a child lot."""

    __tablename__ = "genealogy_link"

    id: int | None = Field(default=None, primary_key=True)
    parent_lot_id: int = Field(foreign_key="lot.id")
    parent_start_m: float = Field(ge=0)
    parent_end_m: float
    child_lot_id: int = Field(foreign_key="lot.id", index=True)
    role: str = Field(max_length=32)  # anode, cathode, separator, substrate, …
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("parent_end_m > parent_start_m", name="interval_ordered"),
        sa.Index("ix_genealogy_link_parent_interval", "parent_lot_id", "parent_start_m", "parent_end_m"),
    )
