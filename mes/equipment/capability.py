"""What a unit can run: the one answer the scheduler, the order desk and ``mes equipment check`` give.

A unit can run a recipe step when its profile is of the step's class, has a
gauge for each characteristic (same characteristic, unit and lanes) and every
setpoint the step sets, within the profile's limits; a setpoint the profile
declares absent is named as such.
"""

from __future__ import annotations

from mes.equipment.profile import Profile
from mes.recipes.schema import CoaterStep, SputterStep, WinderStep
from mes.vocabulary import with_unit


def profile_can_run(profile: Profile, unit: str, step: SputterStep | CoaterStep | WinderStep) -> str | None:
    """Why ``unit`` (with ``profile``) cannot run ``step``, or None when it can."""
    if profile.equipment_class != step.equipment_class:
        return f"{unit} is a {profile.equipment_class}"
    chars = step.inspection if isinstance(step, WinderStep) else step.layer.characteristics
    for char in chars:
        gauge = profile.gauges.get(char.gauge)
        if gauge is None:
            return f"{unit} has no gauge {char.gauge!r} for {char.name}"
        if gauge.lanes != char.lanes or gauge.unit != char.unit.value or gauge.characteristic != char.name:
            return (
                f"{unit}'s gauge {char.gauge} measures {gauge.characteristic} in {gauge.unit} over "
                f"{gauge.lanes} lanes; the recipe wants {char.name} in {char.unit} over {char.lanes}"
            )
    for name, value in step.setpoints.model_dump(exclude_none=True).items():
        if name in profile.absent_setpoints:
            return f"{unit} has no setpoint {name} (absent in profile {profile.id}); the step sets {value}"
        entry = profile.setpoints.get(name)
        if entry is None:
            return f"{unit} has no setpoint {name} in profile {profile.id}; the step sets {name}={value}"
        if not entry.min <= float(value) <= entry.max:
            return (
                f"{unit} cannot set {name}={value}: its limits are "
                f"{with_unit(f'{entry.min:g}–{entry.max:g}', entry.unit)}"
            )
    return None
