"""What the order services answer with: read models built from the table rows inside the service.

The CLI's ``--json`` prints these (``model_dump(mode="json")``); the API will return the same.
Table rows never leave the service layer; orders and lots are named by number, never by row id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mes.lots.models import JobOrderState, LotKind, LotStatus, StepRunState, WorkOrderState


class OrderPublic(BaseModel):
    """A work order as an operator sees it."""

    model_config = ConfigDict(frozen=True)

    number: str
    recipe: str = Field(description="The released recipe version ordered, ID@VERSION.")
    state: WorkOrderState = Field(description="The MES's own state (an ISA-95 job order sub-state).")
    job_order_state: JobOrderState = Field(
        description="The OPC 10031-4 job order state that `state` is a sub-state of "
        "(mes.lots.models.job_order_state documents the mapping)."
    )
    lots_requested: int
    lots_created: int
    lot_size: float | None = Field(description="In lot_size_unit; None: the recipe's own lot size.")
    lot_size_unit: Literal["m", "cells"] = Field(
        description="Metres of an electrode lot, cells of a cell lot."
    )
    priority: int = Field(description="Lower runs first.")
    created_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    idempotency_key: str | None


class OrderStep(BaseModel):
    """One step run of a lot of the order, with the unit it was given to."""

    model_config = ConfigDict(frozen=True)

    index: int
    name: str
    job_id: str
    state: StepRunState
    unit: str | None
    error: str | None
    started_at: datetime | None
    ended_at: datetime | None
    progress_m: float | None = Field(
        description="Metres of the lot this step has made, from what is recorded: the lot's length once "
        "its unit reported the job Complete; while it runs, the furthest position a gauge of the step "
        "measured (scans stored so far: it trails the web by up to a scan pitch and the collector's "
        "batch); None when nothing is recorded yet."
    )
    progress_source: Literal["complete", "gauge"] | None = Field(
        description="Where progress_m comes from: the unit's Complete, or the step's stored gauge scans."
    )
    eta: datetime | None = Field(
        description="When a running step's roll should be done: the time of its furthest scan + (lot "
        "length − progress_m) ÷ the rate it has made metres at since it started (once it made 2 % of "
        "the roll in 5 s or more), else ÷ the recipe step's web (or winding) speed setpoint. None unless "
        "the step runs, is not paused, and progress and a rate are known."
    )
    pause_requested_at: datetime | None = Field(
        description="When its order's pause reached this step; its unit is held (PackML Hold) until the "
        "order is resumed and the Unhold is confirmed."
    )
    unit_held_at: datetime | None = Field(
        description="When the step's unit was seen Held (PackML) by the MES; None once unheld."
    )


class OrderLot(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: str
    kind: LotKind
    status: LotStatus
    length_m: float
    steps: list[OrderStep]


class OrderCancellation(BaseModel):
    """Who cancelled the order, when and why (from the audit trail)."""

    model_config = ConfigDict(frozen=True)

    by: str
    at: datetime
    reason: str


class OrderDetail(OrderPublic):
    """The order with its lots, their status and the steps of each lot."""

    lots: list[OrderLot]
    cancelled: OrderCancellation | None
    eta: datetime | None = Field(
        description="When the order should be done: the latest ETA of its running steps, given only "
        "when every step left to run is running (a step still waiting for a unit makes it unknown: None)."
    )


class StepUnderway(BaseModel):
    """A step of an order's lot that has gone to a unit and not ended: where it is and how far it got."""

    model_config = ConfigDict(frozen=True)

    lot: str
    job_id: str
    name: str
    state: StepRunState
    unit: str | None
    progress_m: float | None = Field(
        description="As OrderStep.progress_m: None when nothing is recorded yet."
    )
    length_m: float = Field(description="The lot's length: what the step makes when it is done.")
    eta: datetime | None = Field(description="As OrderStep.eta.")
    paused: bool = Field(description="Its order's pause reached it (its unit is held or being held).")


class OrderProgress(BaseModel):
    """How far a work order has got, for a list of orders: its steps counted, the ones under way with
    their metres, and the order's ETA (as :class:`OrderDetail`'s)."""

    model_config = ConfigDict(frozen=True)

    number: str
    steps_total: int
    steps_completed: int
    steps_started: int = Field(
        description="Steps that have gone to a unit (neither pending nor aborted): once there is one, the "
        "order can no longer be cancelled (pause or abort it)."
    )
    underway: list[StepUnderway] = Field(description="Dispatched, running and held steps, by lot and step.")
    eta: datetime | None


class OrderAccepted(BaseModel):
    """The answer to placing an order: the order, and whether this request made it (False: the
    idempotency key had already made it, and nothing new was made)."""

    model_config = ConfigDict(frozen=True)

    order: OrderPublic
    created: bool


class OrderCancelled(BaseModel):
    """The answer to cancelling an order: what was cancelled, or that it had been already."""

    model_config = ConfigDict(frozen=True)

    order: OrderPublic
    cancellation: OrderCancellation
    lots_cancelled: list[str]
    steps_aborted: int
    already: bool = Field(description="It had been cancelled before: nothing changed now.")


class OrderPlaced(BaseModel):
    """The answer to placing an order through the API: the order, whether this request made it, and
    whether it was handed to the dispatcher."""

    model_config = ConfigDict(frozen=True)

    order: OrderPublic
    created: bool = Field(description="False: the idempotency key had made it; nothing new was made.")
    sent: bool | None = Field(
        description="True: handed to the dispatcher; False: saved, but the broker did not take it (the "
        "reconciler sends it; do not repeat); None: nothing to send (stored, or made before)."
    )
    detail: str


class OrderChanged(BaseModel):
    """The answer to a state change of an order (start, pause, resume, abort): the order as it is now."""

    model_config = ConfigDict(frozen=True)

    order: OrderDetail
    sent: bool | None = Field(
        description="Start and resume hand work to the workers: True when the broker took it, False when "
        "it is saved but not sent (the reconciler sends it; do not repeat); None: nothing to send."
    )
    detail: str
