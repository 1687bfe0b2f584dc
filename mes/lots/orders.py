"""Work orders and lots: accept an order, expand it into lots with their steps, receive purchases.

Services flush; the caller commits. A work order names a released recipe version;
the lot records the recipe's content hash so it always says what it was made with.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.audit.service import record
from mes.auth.errors import InvalidUserName
from mes.auth.models import Role
from mes.auth.service import get_user, normal_name
from mes.base import pk, utcnow
from mes.equipment.capability import profile_can_run
from mes.equipment.models import EquipmentClass
from mes.equipment.profile import Line
from mes.errors import InputError
from mes.lots.errors import IdempotencyKeyReused, LotInvalid, LotNotFound, OrderInvalid, OrderRefused
from mes.lots.models import (
    Characteristic,
    Layer,
    Lot,
    LotKind,
    LotStatus,
    StepRun,
    WorkOrder,
    WorkOrderState,
)
from mes.lots.order_models import OrderAccepted
from mes.lots.order_queries import order_public
from mes.recipes.errors import RecipeError
from mes.recipes.schema import CoaterStep, Recipe, SputterStep, WinderStep
from mes.recipes.service import require_released, stored_recipe

# Who may place, start, pause, resume, abort and cancel work orders through the API: who runs
# production — operators, engineers, admins. Quality holds and releases material (the lots' routes); it
# does not steer orders. (The CLI's `mes order create --by` asks only for an active user.)
ROLES_ORDER = (Role.OPERATOR, Role.ENGINEER, Role.ADMIN)
# How long an idempotency key names the order it made. Later the key may make a new order: the old
# order gives it up (audited), as a retry a day after the first request is no retry.
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


def _stamp(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%y%m%d}-{secrets.token_hex(3).upper()}"


def unit_can_run(line: Line, unit: str, step: SputterStep | CoaterStep | WinderStep) -> str | None:
    """Why ``unit`` cannot run ``step`` (None when it can): class, gauges, lanes, units, setpoints and
    their limits, setpoints the profile declares absent (see :mod:`mes.equipment.capability`)."""
    return profile_can_run(line.profiles[unit], unit, step)


def create_order(
    session: Session,
    ref: str,
    lots: int,
    *,
    by: str,
    line: Line,
    priority: int = 100,
    lot_size: float | None = None,
    idempotency_key: str | None = None,
    start: bool = True,
) -> WorkOrder:
    """Accept a work order for ``lots`` lots of a released recipe version; refuse with the reason.

    With an ``idempotency_key`` used in the last :data:`IDEMPOTENCY_KEY_TTL`, the order it made is
    returned (nothing new is made) when this request asks for the same thing, and refused
    (:class:`IdempotencyKeyReused`), naming that order, when it does not. ``start`` False stores
    the order ``waiting`` (not allowed to start) until :func:`mes.lots.job_orders.start_order`.
    """
    return _create(session, ref, lots, by=by, line=line, priority=priority, lot_size=lot_size,
                   idempotency_key=idempotency_key, start=start)[0]  # fmt: skip


def place_order(
    session: Session,
    ref: str,
    lots: int,
    *,
    by: str,
    line: Line,
    priority: int = 100,
    lot_size: float | None = None,
    idempotency_key: str | None = None,
    start: bool = True,
) -> OrderAccepted:
    """:func:`create_order` for the command line and the API: the order as they show it, and whether
    this request made it."""
    order, created = _create(session, ref, lots, by=by, line=line, priority=priority, lot_size=lot_size,
                             idempotency_key=idempotency_key, start=start)  # fmt: skip
    return OrderAccepted(order=order_public(session, order), created=created)


def _check_key(key: str) -> str:
    """The key in the form it is stored and compared in: NFC, surrounding white space removed (a key
    typed again with a stray space or composed differently is the same key, not a second order)."""
    normal = unicodedata.normalize("NFC", key).strip()
    if not normal or len(normal) > 200 or not normal.isprintable():
        raise OrderInvalid(
            f"idempotency key {key!r}: give 1 to 200 printable characters, the same on every retry"
        )
    return normal


def _name_as_stored(name: str) -> str:
    try:
        return normal_name(name)
    except InvalidUserName:
        return name


def _started_on_create(session: Session, order: WorkOrder) -> bool:
    """Whether the request that made ``order`` asked it to start (its creation's audit event says)."""
    after = session.exec(
        select(AuditEvent.after).where(
            AuditEvent.entity_type == "work_order",
            AuditEvent.entity_id == order.number,
            AuditEvent.action == "order.create",
        )
    ).first()
    return bool((after or {}).get("start", True))


def _same_request(
    session: Session,
    order: WorkOrder,
    ref: str,
    lots: int,
    by: str,
    priority: int,
    lot_size: float | None,
    start: bool,
) -> None:
    """Refuse a request that reuses ``order``'s idempotency key for something else, naming what differs."""
    from mes.recipes.models import Recipe as RecipeRow
    from mes.recipes.service import parse_ref

    row = session.get(RecipeRow, order.recipe_id)
    assert row is not None  # noqa: S101 - foreign key
    ordered = f"{row.name}@{row.version}"
    try:
        name, version = parse_ref(ref, version_required=True)
        asked = f"{name}@{version}"
    except RecipeError:
        asked = ref
    differs = [
        f"{what} {new} (it has {old})"
        for what, new, old in (
            ("recipe", asked, ordered),
            ("lots", lots, order.lots_requested),
            ("priority", priority, order.priority),
            ("lot size", lot_size, order.lot_size),
            ("by", _name_as_stored(by), order.created_by),
            ("start", start, _started_on_create(session, order)),
        )
        if new != old
    ]
    if differs:
        raise IdempotencyKeyReused(
            f"idempotency key {order.idempotency_key!r} already made work order {order.number} "
            f"({order.lots_requested} lot(s) of {ordered}); this request differs: {'; '.join(differs)}. "
            "Use a new key for a new order"
        )


def _key_holder(session: Session, key: str, by: str) -> WorkOrder | None:
    """The order ``key`` names, or None. An order made with it more than :data:`IDEMPOTENCY_KEY_TTL`
    ago gives the key up (audited, the key kept in the event), so that the key makes a new order."""
    holder = session.exec(select(WorkOrder).where(WorkOrder.idempotency_key == key)).first()
    if holder is None or holder.created_at > utcnow() - IDEMPOTENCY_KEY_TTL:
        return holder
    holder.idempotency_key = None
    session.add(holder)
    session.flush()  # before the new order takes the key (a unique column)
    record(
        session,
        actor=by,
        action="order.idempotency_key_expired",
        entity_type="work_order",
        entity_id=holder.number,
        before={"idempotency_key": key},
        after={"idempotency_key": None},
        reason=f"kept {IDEMPOTENCY_KEY_TTL.total_seconds() / 3600:g} h; used again for a new order",
    )
    return None


def _create(
    session: Session,
    ref: str,
    lots: int,
    *,
    by: str,
    line: Line,
    priority: int,
    lot_size: float | None,
    idempotency_key: str | None,
    start: bool,
) -> tuple[WorkOrder, bool]:
    if idempotency_key is not None:
        idempotency_key = _check_key(idempotency_key)
        existing = session.exec(select(WorkOrder).where(WorkOrder.idempotency_key == idempotency_key)).first()
        if existing is not None and existing.created_at > utcnow() - IDEMPOTENCY_KEY_TTL:
            _same_request(session, existing, ref, lots, by, priority, lot_size, start)
            return existing, False
    if not 1 <= lots <= 1_000:
        raise OrderInvalid(f"--lots {lots}: an order makes 1 to 1000 lots")
    if lot_size is not None and not (math.isfinite(lot_size) and lot_size > 0):
        raise OrderInvalid(f"--lot-size {lot_size:g}: a lot has more than 0 metres or cells")
    user = get_user(session, by)
    try:
        row = require_released(session, ref)
    except RecipeError as exc:
        raise (OrderInvalid if isinstance(exc, InputError) else OrderRefused)(str(exc)) from exc
    recipe = stored_recipe(row)
    if lot_size is not None:
        biggest = recipe.produces.cells if recipe.produces.kind == "cell" else recipe.produces.length_m
        if not 0 < lot_size <= float(biggest or 0):
            raise OrderRefused(f"lot size {lot_size:g} is outside (0, {biggest}] of {ref}")
    for i, step in enumerate(recipe.steps):
        reasons = [unit_can_run(line, u, step) for u in line.units]
        if all(reasons):
            raise OrderRefused(
                f"{ref} step {i} ({step.name}): no unit of line {line.config.line} can run it: "
                + "; ".join(r for r in reasons if r)
            )
    if idempotency_key is not None:
        _key_holder(session, idempotency_key, user.name)  # gives up a key older than the TTL
    order = WorkOrder(
        number=_stamp("WO"),
        recipe_id=pk(row),
        lots_requested=lots,
        priority=priority,
        lot_size=lot_size,
        created_by=user.name,
        state=WorkOrderState.READY if start else WorkOrderState.WAITING,
        idempotency_key=idempotency_key,
    )
    session.add(order)
    try:
        session.flush()
    except IntegrityError as exc:
        if idempotency_key is None:
            raise
        # Another request with the same key got there first and has not finished (PostgreSQL waited
        # for it, then refused the duplicate): this transaction is spoilt, the caller rolls it back.
        raise OrderRefused(
            f"idempotency key {idempotency_key!r} is being used by another request at this moment; "
            "run the same command again to get the order it made"
        ) from exc
    after: dict[str, object] = {"recipe": f"{row.name}@{row.version}", "lots": lots, "lot_size": lot_size,
                                "start": start}  # fmt: skip
    if idempotency_key is not None:
        after["idempotency_key"] = idempotency_key
    record(
        session,
        actor=user.name,
        action="order.create",
        entity_type="work_order",
        entity_id=order.number,
        after=after,
    )
    return order, True


def _lot_size(recipe: Recipe, order: WorkOrder) -> tuple[float, int | None]:
    """(length_m, cells) of one lot of this order."""
    if recipe.produces.kind == "cell":
        cells = int(order.lot_size or recipe.produces.cells or 1)
        winder = next(s for s in recipe.steps if isinstance(s, WinderStep))
        anode = next(c for c in winder.winding.consumes if c.role == "anode")
        return cells * anode.length_per_cell_m, cells
    return float(order.lot_size or recipe.produces.length_m or 1.0), None


def expand_order(session: Session, order: WorkOrder) -> list[Lot]:
    """Create the order's missing lots, each with its step runs, layers and characteristics."""
    from mes.recipes.models import Recipe as RecipeRow

    row = session.get(RecipeRow, order.recipe_id)
    assert row is not None  # noqa: S101 - foreign key
    recipe = stored_recipe(row)
    length_m, cells = _lot_size(recipe, order)
    created: list[Lot] = []
    while order.lots_created < order.lots_requested:
        order.lots_created += 1
        lot = Lot(
            number=f"{order.number}-L{order.lots_created:02d}",
            kind=LotKind(recipe.produces.kind),
            length_m=length_m,
            width_mm=recipe.produces.width_mm,
            work_order_id=order.id,
            recipe_id=row.id,
            recipe_hash=row.content_hash,
            material=f"{cells} cells" if cells else recipe.title[:200],
        )
        session.add(lot)
        session.flush()
        for index, step in enumerate(recipe.steps):
            run = StepRun(
                lot_id=pk(lot),
                step_index=index,
                step_name=step.name,
                job_id=f"{lot.number}-S{index}-1",
                equipment_class=EquipmentClass(step.equipment_class),
                time_limit_s=step.time_limit_s,
                attempt=1,
            )
            session.add(run)
            session.flush()
            chars = step.inspection if isinstance(step, WinderStep) else step.layer.characteristics
            if not isinstance(step, WinderStep):
                layer = Layer(
                    lot_id=pk(lot),
                    step_run_id=run.id,
                    layer_index=index,
                    name=step.layer.name,
                    material=" + ".join(c.formula for c in step.layer.composition),
                    method=step.layer.method.value,
                    disposition_policy=step.disposition,
                )
            else:
                layer = Layer(
                    lot_id=pk(lot),
                    step_run_id=run.id,
                    layer_index=index,
                    name=f"{step.name}-inspection",
                    material=step.winding.cell.format,
                    method="winding",
                    disposition_policy=step.disposition,
                )
            session.add(layer)
            session.flush()
            for char in chars:
                session.add(
                    Characteristic(
                        layer_id=pk(layer),
                        name=char.name.value,
                        unit=char.unit.value,
                        target=char.target,
                        lsl=char.lsl,
                        usl=char.usl,
                        gauge=char.gauge,
                        pitch_m=char.pitch_m,
                        lanes=char.lanes,
                        min_coverage_pct=char.min_coverage_pct,
                        max_gap_pitches=char.max_gap_pitches,
                    )
                )
        created.append(lot)
    if order.state in (WorkOrderState.WAITING, WorkOrderState.READY):
        order.state, order.started_at = WorkOrderState.RUNNING, utcnow()
    session.add(order)
    session.flush()
    return created


def receive_lot(
    session: Session,
    *,
    kind: LotKind,
    material: str,
    length_m: float,
    supplier: str,
    supplier_lot: str,
    by: str,
    width_mm: float | None = None,
) -> Lot:
    """A purchased web (separator, foil, film) enters stock, released, traceable to its supplier lot."""
    if kind in (LotKind.CELL, LotKind.ANODE, LotKind.CATHODE):
        raise LotInvalid(f"{kind} lots are made on the line, not received")
    for what, value in (("length", length_m), ("width", width_mm)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise LotInvalid(f"a received lot's {what} is a positive finite number, not {value}")
    if not supplier.strip() or not supplier_lot.strip():
        raise LotInvalid("a received lot names its supplier and the supplier's lot number")
    user = get_user(session, by)
    lot = Lot(
        number=_stamp("R"),
        kind=kind,
        status=LotStatus.RELEASED,
        length_m=length_m,
        width_mm=width_mm,
        material=material,
        supplier=supplier,
        supplier_lot=supplier_lot,
    )
    session.add(lot)
    session.flush()
    record(
        session,
        actor=user.name,
        action="lot.receive",
        entity_type="lot",
        entity_id=lot.number,
        after={"kind": kind.value, "supplier": supplier, "supplier_lot": supplier_lot, "length_m": length_m},
    )
    return lot


def get_lot(session: Session, number: str) -> Lot:
    if not number.strip():
        raise LotInvalid("the lot number is empty: give one (see `mes lot list`)")
    lot = session.exec(select(Lot).where(Lot.number == number)).first()
    if lot is None:
        raise LotNotFound(f"no lot {number} (see `mes lot list`)")
    return lot


def list_lots(session: Session, limit: int = 200) -> list[Lot]:
    return list(session.exec(select(Lot).order_by(col(Lot.id).desc()).limit(limit)).all())
