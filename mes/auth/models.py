"""User table: who may operate, engineer, release and administer."""

import enum
from datetime import datetime

from sqlmodel import Field, SQLModel

from mes.base import UTCDateTime, enum_type, utcnow


class Role(enum.StrEnum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    QUALITY = "quality"
    ADMIN = "admin"


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    full_name: str = Field(default="", max_length=200)
    # A PBKDF2/scrypt hash string, never the password: release and hold need the
    # password re-entered as an electronic signature.
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_type=enum_type(Role))
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
