"""Audit event table.

Rows are only ever inserted: the migration adds triggers on both backends that
reject UPDATE and DELETE, and every row carries the SHA-256 of its own content
chained to the previous row's hash, so an edit made behind the database's back
is found by ``mes audit verify``.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mes.base import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    entity_type: str = Field(max_length=64)
    entity_id: str = Field(max_length=128)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    reason: str = Field(default="", max_length=2000)
    prev_hash: str = Field(max_length=64, unique=True)  # one successor per event: the chain cannot fork
    hash: str = Field(max_length=64, unique=True)

    __table_args__ = (sa.Index("ix_audit_event_entity", "entity_type", "entity_id"),)
