"""Recipe table: one row per recipe version, with its lifecycle."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mes.base import UTCDateTime, enum_type, utcnow


class RecipeStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    RELEASED = "released"
    OBSOLETE = "obsolete"


class Recipe(SQLModel, table=True):
    __tablename__ = "recipe"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    version: int = Field(ge=1)
    title: str = Field(max_length=200)
    product_family: str = Field(max_length=64)
    # Canonical JSON of the validated recipe; content_hash is its SHA-256 and is
    # what a lot records, so a lot always names exactly what it was made with.
    content: str = Field(sa_type=sa.Text)
    content_hash: str = Field(max_length=64)
    status: RecipeStatus = Field(default=RecipeStatus.DRAFT, sa_type=enum_type(RecipeStatus))
    source_path: str = Field(default="", max_length=500)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    released_by: str | None = Field(default=None, max_length=64)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    obsoleted_by: str | None = Field(default=None, max_length=64)
    obsoleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("name", "version"),)
