"""Tables of the running line that are not the production record: the services' heartbeats."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from mes.base import UTCDateTime


class ServiceHeartbeat(SQLModel, table=True):
    """A long-running service (the collector) saying, every few seconds, that it is alive.

    One row per service name; a new process of the service takes the row over.
    """

    __tablename__ = "service_heartbeat"

    name: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=200)
    pid: int
    started_at: datetime = Field(sa_type=UTCDateTime)
    beat_at: datetime = Field(sa_type=UTCDateTime)
