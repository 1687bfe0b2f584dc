"""``mes equipment check``: does a unit expose what its profile says, and what can it run?

Every profile entry is reported as present, missing, of the wrong data type or
not writable, with the node it was looked for at; then each released recipe
with steps of the unit's class, with the reasons the scheduler would not pick it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlmodel import Session

from mes.equipment.capability import profile_can_run
from mes.equipment.driver import UnitDriver
from mes.equipment.errors import BadStatus, EquipmentError
from mes.equipment.profile import PackMLState, Profile

WRITABLE_PREFIXES = ("sp.", "job.", "cmd.")
READ_ONLY = ("cmd.start_counter", "cmd.refused_counter")


@dataclass(frozen=True)
class EntryCheck:
    entry: str
    node: str
    status: str  # present | missing | wrong data type | not writable
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "present"


@dataclass(frozen=True)
class UnitCheck:
    unit: str
    entries: list[EntryCheck]
    state: PackMLState | None
    state_error: str = ""

    @property
    def ok(self) -> bool:
        return self.state is not None and all(e.ok for e in self.entries)


def _expected_type(driver: UnitDriver, key: str) -> str:
    p = driver.profile
    if key.startswith("sp."):
        return p.setpoints[key[3:]].data_type
    if key.startswith("pv."):
        return p.process_values[key[3:]].data_type
    if key.startswith("gauge."):
        _, gauge, what = key.split(".", 2)
        return str(getattr(p.gauges[gauge], what).data_type)
    if key.startswith("job."):
        return str(getattr(p.job, key[4:]).data_type)
    if key in READ_ONLY:
        return str(getattr(p.commands, key[4:]).data_type)
    if key.startswith("cmd."):
        assert p.commands.style == "packtags"  # noqa: S101 - only packtags profiles have cmd.* entries
        return str(getattr(p.commands, key[4:]).data_type)
    return str(p.start_counts.data_type if key == "start_counts" and p.start_counts else p.state.data_type)


async def _variable(driver: UnitDriver, key: str) -> EntryCheck:
    where = driver.refs[key].describe()
    if key in driver.unresolved:
        return EntryCheck(key, where, "missing", driver.unresolved[key])
    try:
        info = (await driver.node_info([key]))[key]
    except BadStatus as exc:
        return EntryCheck(key, where, "missing", exc.status)
    expected = _expected_type(driver, key)
    if info.data_type != expected:
        return EntryCheck(
            key, where, "wrong data type", f"server has {info.data_type}, profile says {expected}"
        )
    if key.startswith(WRITABLE_PREFIXES) and key not in READ_ONLY and not info.writable:
        return EntryCheck(key, where, "not writable")
    return EntryCheck(key, where, "present")


async def _methods(driver: UnitDriver) -> list[EntryCheck]:
    p = driver.profile
    names = list(p.commands.names.values()) if p.commands.style == "method" else []
    names += [g.read_method for g in p.ring_buffer_gauges().values()]
    names += [p.inject_fault] if p.inject_fault else []
    if "object" in driver.unresolved or driver.client is None:
        return [
            EntryCheck(f"method {n}", p.object.describe(), "missing", "unit object not found") for n in names
        ]
    obj = driver.client.get_node(driver._obj())
    found = []
    for name in names:
        path = f"{driver.ns}:{name}"
        try:
            await driver._retry(f"browse method {name}", partial(obj.get_child, path))
            found.append(EntryCheck(f"method {name}", p.object.describe(), "present"))
        except BadStatus as exc:
            found.append(EntryCheck(f"method {name}", p.object.describe(), "missing", exc.status))
    return found


async def check_unit(driver: UnitDriver) -> UnitCheck:
    """Inspect a connected unit against its profile."""
    entries = [await _variable(driver, key) for key in driver.refs]
    entries += await _methods(driver)
    try:
        state: PackMLState | None = await driver.read_state()
        error = ""
    except EquipmentError as exc:
        state, error = None, str(exc)
    return UnitCheck(driver.name, entries, state, error)


@dataclass(frozen=True)
class RecipeFit:
    """Whether a unit can run the steps of its class in one released recipe, and why not."""

    recipe: str  # name@version
    steps: list[tuple[int, str, str | None]]  # (step index, step name, reason it cannot, or None)

    @property
    def ok(self) -> bool:
        return all(reason is None for _, _, reason in self.steps)


def recipes_for_unit(session: Session, unit: str, profile: Profile) -> list[RecipeFit]:
    """Every released recipe with a step of the unit's class, step by step, with the reasons the
    scheduler would give for not picking this unit (:func:`mes.equipment.capability.profile_can_run`)."""
    from mes.recipes.service import released_recipes

    fits = []
    for ref, recipe in released_recipes(session):
        steps = [
            (i, step.name, profile_can_run(profile, unit, step))
            for i, step in enumerate(recipe.steps)
            if step.equipment_class == profile.equipment_class
        ]
        if steps:
            fits.append(RecipeFit(ref, steps))
    return fits
