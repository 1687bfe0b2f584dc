"""What the order services answer with: read models built from the table rows inside the service.

The CLI's ``--json`` prints these (``model_dump(mode="json")``); the API will return the same.
Table rows never leave the service layer; orders and lots are named by number, never by row id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mes.lots.models import LotKind, LotStatus, StepRunState, WorkOrderState


class OrderPublic(BaseModel):
    """A work order as an operator sees it."""

    model_config = ConfigDict(frozen=True)

    number: str
    recipe: str = Field(description="The released recipe version ordered, ID@VERSION.")
    state: WorkOrderState
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
