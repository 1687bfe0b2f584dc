"""Every table of the product, imported once so that ``SQLModel.metadata`` is complete.

Alembic's env and the tests import this; application code imports the domain
module it needs.
"""

from sqlmodel import SQLModel

from mes.audit.models import AuditEvent
from mes.auth.models import ApiToken, LoginAttempt, Role, User, WebSession
from mes.equipment.models import EquipmentClass, EquipmentUnit, UnitLease
from mes.events.models import EventLog
from mes.execution.models import ServiceHeartbeat
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    GenealogyLink,
    Layer,
    Lot,
    OosInterval,
    StepRun,
    WorkOrder,
)
from mes.quality.models import Alarm, AlarmEvent, ControlLimit
from mes.recipes.models import Recipe

metadata = SQLModel.metadata

__all__ = [
    "Alarm",
    "AlarmEvent",
    "ApiToken",
    "AuditEvent",
    "Characteristic",
    "ControlLimit",
    "EquipmentClass",
    "EquipmentUnit",
    "EventLog",
    "GaugeScan",
    "GenealogyLink",
    "Layer",
    "LoginAttempt",
    "Lot",
    "OosInterval",
    "Recipe",
    "Role",
    "ServiceHeartbeat",
    "StepRun",
    "UnitLease",
    "User",
    "WebSession",
    "WorkOrder",
    "metadata",
]
