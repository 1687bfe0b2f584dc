"""Recipe versions for the recipe pages' tests, written through the recipe service (as the API does):
the shipped files of ``recipes/`` are the valid examples, and a broken copy of one is made here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.db import session_scope
from mes.recipes import service
from mes.yamldoc import parse_document
from tests.api.conftest import PASSWORD, Callers
from tests.recipes.helpers import set_value, text_of

LCO_FILE = "cathode-lco.yaml"
LCO = "cathode-lco"
GAP = ("steps", 0, "setpoints", "gap_um")


def position(text: str, loc: tuple[str | int, ...]) -> tuple[int, int]:
    """(line, column) of the value at ``loc`` (1-based), as the loader reports it."""
    _, source = parse_document(text)
    return source.values[loc]


def lco(version: int = 1, gap_um: float | None = None) -> str:
    """The shipped LiCoO2 cathode recipe as version ``version``, its slot-die gap changed if asked."""
    text = text_of(LCO_FILE)
    if version != 1:
        text = set_value(text, position(text, ("version",))[0], "version", str(version))
    if gap_um is not None:
        text = set_value(text, position(text, GAP)[0], "gap_um", f"{gap_um:g}")
    return text


@dataclass(frozen=True)
class Broken:
    """A broken copy of a shipped recipe and where each of its problems is: (line, column, field)."""

    text: str
    located: list[tuple[int, int, str]]


def broken_lco() -> Broken:
    """Three fields of the LCO recipe made wrong: a setpoint below its class's range, a coating method
    that does not exist, and a gauge with no lanes."""
    text = text_of(LCO_FILE)
    lanes = ("steps", 0, "layer", "characteristics", 0, "lanes")
    wrong = [
        (GAP, "-5", "steps[0].setpoints.gap_um"),
        (("steps", 0, "layer", "method"), "painting", "steps[0].layer.method"),
        (lanes, "0", "steps[0].layer.characteristics[0].lanes"),
    ]
    located = []
    for loc, value, field in wrong:
        line, column = position(text, loc)
        text = set_value(text, line, str(loc[-1]), value)
        located.append((line, column, field))
    return Broken(text, located)


def import_version(engine: Engine, text: str, source: str = LCO_FILE) -> str:
    """Store ``text`` as a draft (by the engineer); its ``ID@VERSION``."""
    with session_scope(engine) as s:
        imported = service.import_recipe_text(s, text, by=Callers.person(Role.ENGINEER), source=source)
        return imported.recipe.ref


def approve(engine: Engine, ref: str) -> None:
    with session_scope(engine) as s:
        service.approve(s, ref, by=Callers.person(Role.ENGINEER), reason="trials passed")


def release(engine: Engine, ref: str) -> None:
    with session_scope(engine) as s:
        service.release(s, ref, by=Callers.person(Role.QUALITY), password=PASSWORD, reason="validated")
