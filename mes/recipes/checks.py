"""Semantic checks of a structurally valid recipe: limits, units, methods, geometry.

Each check yields ``(loc, message)`` with ``loc`` a path into the document, so
the loader can point at the line. The claim rules of the product families come
last (``rules.py``). The checks of one piece (a characteristic, a layer's
method, a winding, the substrate) also run, through :func:`part_issues`, on the
pieces that are valid on their own when the recipe as a whole is not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mes.recipes.errors import Loc
from mes.recipes.rules import claim_issues
from mes.recipes.schema import (
    CharacteristicName,
    CharacteristicSpec,
    CoaterStep,
    Method,
    Recipe,
    SputterStep,
    Substrate,
    Unit,
    WinderStep,
    WindingSpec,
)
from mes.vocabulary import EquipmentClass

# Which units measure which characteristic.
UNITS_FOR: dict[CharacteristicName, frozenset[Unit]] = {
    CharacteristicName.THICKNESS: frozenset({Unit.NM, Unit.UM, Unit.MM}),
    CharacteristicName.COAT_WEIGHT: frozenset({Unit.MG_CM2, Unit.G_M2}),
    CharacteristicName.EDGE_DEVIATION: frozenset({Unit.MM, Unit.UM}),
    CharacteristicName.SHEET_RESISTANCE: frozenset({Unit.OHM_SQ}),
    CharacteristicName.POROSITY: frozenset({Unit.PCT}),
    CharacteristicName.DENSITY: frozenset({Unit.G_CC}),
}

METHODS_FOR: dict[EquipmentClass, frozenset[Method]] = {
    EquipmentClass.SPUTTER: frozenset(
        {
            Method.DC_MAGNETRON_SPUTTERING,
            Method.RF_MAGNETRON_SPUTTERING,
            Method.VACUUM_EVAPORATION,
            Method.E_BEAM_EVAPORATION,
            Method.ION_PLATING,
        }
    ),
    EquipmentClass.COATER: frozenset({Method.SLOT_DIE_COATING, Method.COMMA_BAR_COATING}),
}

Found = Iterator[tuple[Loc, str]]
P = TypeVar("P", bound=BaseModel)
# What needs the whole recipe, named where a structural error keeps it from running.
WHOLE_RECIPE_CHECKS = (
    "unique step and layer names, what the recipe produces, the claim rules of its product family"
)


class _Limits(BaseModel):
    """What the limit checks read of a characteristic: checked even when its other fields are wrong."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)
    name: CharacteristicName
    unit: Unit
    target: float
    lsl: float
    usl: float


def _characteristic(spec: CharacteristicSpec | _Limits, loc: Loc) -> Found:
    allowed = UNITS_FOR[spec.name]
    if spec.unit not in allowed:
        yield (
            (*loc, "unit"),
            (
                f"{spec.name} is not measured in {spec.unit}; use "
                + ", ".join(sorted(u.value for u in allowed))
            ),
        )
    if spec.lsl >= spec.usl:
        yield (*loc, "lsl"), f"LSL {spec.lsl:g} must be below USL {spec.usl:g}"
    elif not spec.lsl <= spec.target <= spec.usl:
        yield (*loc, "target"), f"target {spec.target:g} lies outside its limits [{spec.lsl:g}, {spec.usl:g}]"


def _characteristics(specs: Iterable[tuple[int, CharacteristicSpec | _Limits]], loc: Loc) -> Found:
    seen: Counter[str] = Counter()
    for i, spec in specs:
        seen[spec.name] += 1
        if seen[spec.name] == 2:
            yield (*loc, i, "name"), f"characteristic {spec.name} is listed twice"
        yield from _characteristic(spec, (*loc, i))


def _substrate(substrate: Substrate) -> Found:
    loc: Loc = ("inputs", "substrate")
    if substrate.kind == "polymer_film":
        if substrate.resin is None:
            yield (*loc, "resin"), "a polymer film names its resin class"
        if substrate.true_specific_gravity_g_cc is None:
            yield (*loc, "true_specific_gravity_g_cc"), "a polymer film states its true specific gravity"
    elif substrate.resin is not None:
        yield (*loc, "resin"), "a metal foil has no resin"


def _method(equipment_class: EquipmentClass, method: Method, loc: Loc) -> Found:
    allowed = METHODS_FOR.get(equipment_class)
    if allowed is not None and method not in allowed:
        names = ", ".join(sorted(m.value for m in allowed))
        yield (*loc, "layer", "method"), f"a {equipment_class} cannot do {method}; it does {names}"


def _winding(winding: WindingSpec, loc: Loc) -> Found:
    roles = Counter(c.role for c in winding.consumes)
    for role in ("anode", "cathode", "separator"):
        if roles[role] != 1:
            yield (
                (*loc, "winding", "consumes"),
                f"a jelly roll consumes exactly one {role} lot (found {roles[role]})",
            )
    by_role = {c.role: (i, c) for i, c in enumerate(winding.consumes)}
    if {"anode", "cathode", "separator"} <= by_role.keys():
        (ia, anode), (_, cathode), (isep, sep) = by_role["anode"], by_role["cathode"], by_role["separator"]
        need = cathode.width_mm + 2 * winding.anode_overhang.width_mm
        if anode.width_mm + 1e-9 < need:
            yield (
                (*loc, "winding", "consumes", ia, "width_mm"),
                (f"anode {anode.width_mm:g} mm is narrower than cathode + 2 × overhang = {need:g} mm"),
            )
        need = anode.width_mm + 2 * winding.separator_overhang.width_mm
        if sep.width_mm + 1e-9 < need:
            yield (
                (*loc, "winding", "consumes", isep, "width_mm"),
                (f"separator {sep.width_mm:g} mm is narrower than anode + 2 × overhang = {need:g} mm"),
            )
        need_m = cathode.length_per_cell_m + 2 * winding.anode_overhang.length_mm / 1000
        if anode.length_per_cell_m + 1e-9 < need_m:
            yield (
                (*loc, "winding", "consumes", ia, "length_per_cell_m"),
                (
                    f"anode {anode.length_per_cell_m:g} m per cell is shorter than "
                    f"cathode + 2 × overhang = {need_m:g} m"
                ),
            )


def semantic_issues(recipe: Recipe) -> Found:
    """Every semantic problem of ``recipe``, then every claim-rule violation."""
    produces = recipe.produces
    if produces.kind == "cell":
        if produces.cells is None:
            yield ("produces", "cells"), "a cell recipe says how many cells a lot has"
        if not any(isinstance(s, WinderStep) for s in recipe.steps):
            yield ("steps",), "a cell recipe needs a winder step"
    else:
        for name in ("width_mm", "length_m"):
            if getattr(produces, name) is None:
                yield ("produces", name), f"an electrode lot is a band: {name} is required"
        if recipe.inputs.substrate is None:
            yield ("inputs",), "an electrode is made on a substrate: inputs.substrate is required"
        for i, step in enumerate(recipe.steps):
            if isinstance(step, WinderStep):
                yield ("steps", i, "equipment_class"), "an electrode recipe cannot contain a winder step"
    if recipe.inputs.substrate is not None:
        yield from _substrate(recipe.inputs.substrate)
    names: Counter[str] = Counter()
    layer_names: Counter[str] = Counter()
    for i, step in enumerate(recipe.steps):
        loc: Loc = ("steps", i)
        names[step.name] += 1
        if names[step.name] == 2:
            yield (*loc, "name"), f"step name {step.name!r} is used twice"
        if isinstance(step, SputterStep | CoaterStep):
            layer_names[step.layer.name] += 1
            if layer_names[step.layer.name] == 2:
                yield (*loc, "layer", "name"), f"layer name {step.layer.name!r} is used twice"
            yield from _method(EquipmentClass(step.equipment_class), step.layer.method, loc)
            chars = enumerate(step.layer.characteristics)
            yield from _characteristics(chars, (*loc, "layer", "characteristics"))
        else:
            yield from _winding(step.winding, loc)
            yield from _characteristics(enumerate(step.inspection), (*loc, "inspection"))
    yield from claim_issues(recipe)


def _valid(model: type[P], raw: Any) -> P | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _valid_items(model: type[P], raw: Any) -> Iterator[tuple[int, P]]:
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        valid = _valid(model, item)
        if valid is not None:
            yield i, valid


def part_issues(data: Any) -> Found:
    """The checks of one piece, on every piece of a structurally invalid recipe that is valid on its own.

    ``data`` is the document as read (unknown keys set aside); what the checks
    need of the whole recipe is in :data:`WHOLE_RECIPE_CHECKS` and does not run.
    """
    if not isinstance(data, dict):
        return
    inputs = data.get("inputs")
    substrate = _valid(Substrate, inputs.get("substrate")) if isinstance(inputs, dict) else None
    if substrate is not None:
        yield from _substrate(substrate)
    steps = data.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        loc: Loc = ("steps", i)
        layer = step.get("layer")
        if isinstance(layer, dict):
            cls, method = str(step.get("equipment_class")), str(layer.get("method"))
            if cls in set(EquipmentClass) and method in set(Method):
                yield from _method(EquipmentClass(cls), Method(method), loc)
            chars = _valid_items(_Limits, layer.get("characteristics"))
            yield from _characteristics(chars, (*loc, "layer", "characteristics"))
        winding = _valid(WindingSpec, step.get("winding"))
        if winding is not None:
            yield from _winding(winding, loc)
        yield from _characteristics(_valid_items(_Limits, step.get("inspection")), (*loc, "inspection"))
