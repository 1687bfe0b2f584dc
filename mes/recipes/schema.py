"""The recipe schema (pydantic v2): what a recipe file may say, structurally.

ISA-88 in spirit: a recipe names the lot it produces, its inputs, and ordered
steps; each step is bound to an equipment class, carries that class's typed
setpoints, and makes one layer (coating, sputtering) or assembles a cell
(winding). Semantic checks (limits, units, geometry) live in ``checks.py`` and the
patent-claim rules of each product family in ``rules.py``.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from mes.recipes.chem import ELEMENTS, parse_formula
from mes.vocabulary import CoaterSetpoints, Disposition, SputterSetpoints, WinderSetpoints

Identifier = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="lower-case id: a-z, 0-9, -")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ProductFamily(enum.StrEnum):
    ALLOY_FILM_ANODE = "alloy-film-anode"  # seeds/000_…: Li-alloying thin film + second metal / carbon
    CAPPED_SI_ANODE = "capped-si-anode"  # seeds/001_…: Si/Ge active layer with a Cu/Ni cap
    THIN_COMPOSITE_ANODE = "thin-composite-anode"  # seeds/002_…: ≤30 µm composite or <1 µm carbon


class Unit(enum.StrEnum):
    NM = "nm"
    UM = "um"
    MM = "mm"
    MG_CM2 = "mg_cm2"
    G_M2 = "g_m2"
    OHM_SQ = "ohm_sq"
    PCT = "pct"
    G_CC = "g_cc"


class CharacteristicName(enum.StrEnum):
    THICKNESS = "thickness"
    COAT_WEIGHT = "coat_weight"
    EDGE_DEVIATION = "edge_deviation"
    SHEET_RESISTANCE = "sheet_resistance"
    POROSITY = "porosity"
    DENSITY = "density"


class Method(enum.StrEnum):
    DC_MAGNETRON_SPUTTERING = "dc_magnetron_sputtering"
    RF_MAGNETRON_SPUTTERING = "rf_magnetron_sputtering"
    VACUUM_EVAPORATION = "vacuum_evaporation"
    E_BEAM_EVAPORATION = "e_beam_evaporation"
    ION_PLATING = "ion_plating"
    CVD = "cvd"
    ELECTROPLATING = "electroplating"
    ELECTROLESS_PLATING = "electroless_plating"
    SINTERING = "sintering"
    SLOT_DIE_COATING = "slot_die_coating"
    COMMA_BAR_COATING = "comma_bar_coating"


class CarbonForm(enum.StrEnum):
    AMORPHOUS = "amorphous"
    GRAPHITE = "graphite"
    HARD_CARBON = "hard_carbon"
    CARBON_BLACK = "carbon_black"


class ResinClass(enum.StrEnum):
    OLEFINIC = "olefinic"
    SULFUR_CONTAINING = "sulfur_containing"
    NITROGEN_CONTAINING = "nitrogen_containing"
    FLUORINE_CONTAINING = "fluorine_containing"
    OXYGEN_CONTAINING = "oxygen_containing"  # e.g. PET: outside the claimed resins


class Component(Strict):
    """One constituent of a layer or substrate, by empirical formula."""

    formula: str = Field(description="empirical formula, e.g. Si, SnO2, LiCoO2, C, C2H2F2 (PVDF)")
    form: CarbonForm | None = Field(None, description="for carbon: its form")
    dopants: list[str] = Field(
        default_factory=list, description="added elements, e.g. [B] for boron-added carbon"
    )
    fraction_wt_pct: float | None = Field(None, gt=0, le=100)

    @field_validator("formula")
    @classmethod
    def _formula_parses(cls, value: str) -> str:
        parse_formula(value)
        return value

    @field_validator("dopants")
    @classmethod
    def _dopants_are_elements(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in ELEMENTS]
        if unknown:
            raise ValueError(f"not elements: {', '.join(unknown)}")
        return value


def _without_added_defaults(data: Any, added: dict[str, Any]) -> Any:
    """Leave fields added after recipes were first stored out of a dump while they hold their default.

    The content hash is taken of the dump: a recipe stored before a field existed must
    keep its hash (``stored_recipe`` refuses one whose hash changed), and the default
    means what the recipe meant before the field existed.
    """
    if isinstance(data, dict):
        for key, default in added.items():
            if key in data and data[key] == default:
                del data[key]
    return data


class CharacteristicSpec(Strict):
    """A measured property of a layer with its specification and how it is gauged."""

    name: CharacteristicName
    unit: Unit
    target: float
    lsl: float = Field(description="lower specification limit")
    usl: float = Field(description="upper specification limit")
    gauge: Identifier = Field(description="the unit's inline gauge that measures it")
    pitch_m: float = Field(gt=0, le=10, description="sampling pitch along the band [m]")
    lanes: int = Field(ge=1, le=64, description="measurement lanes across the web")
    min_coverage_pct: float = Field(
        100.0,
        ge=50,
        le=100,
        description=(
            "share of the roll's length the gauge must measure for the characteristic to be judged [%]; "
            "below it the result is 'incomplete' and the lot is held. A scan measures its pitch of band "
            "only when every lane is a number (NaN/Inf lanes are unmeasured); gaps up to max_gap_pitches "
            "count as measured, every longer gap (missed scans, NaN lanes, a dead gauge, an unmeasured "
            "head or tail) becomes an 'unmeasured' interval that follows the step's disposition"
        ),
    )
    max_gap_pitches: int = Field(
        2,
        ge=0,
        le=50,
        description="longest run of missing pitches between measured scans still counted as measured",
    )

    @model_serializer(mode="wrap")
    def _omit_added_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _without_added_defaults(handler(self), {"min_coverage_pct": 100.0, "max_gap_pitches": 2})


class LayerSpec(Strict):
    name: Identifier
    method: Method
    composition: list[Component] = Field(min_length=1)
    characteristics: list[CharacteristicSpec] = Field(min_length=1)


class StepBase(Strict):
    name: Identifier
    time_limit_s: float = Field(gt=0, le=86_400, description="the step fails when it runs longer [s]")
    disposition: Disposition = Field(description="what an out-of-spec result does to the lot")
    on_lot_hold: Literal["finish", "hold"] = Field(
        "finish",
        description="when the lot goes on hold while this step runs: finish the roll and keep the lot "
        "held, or hold the unit (PackML Hold) and the step",
    )

    @model_serializer(mode="wrap")
    def _omit_added_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _without_added_defaults(handler(self), {"on_lot_hold": "finish"})


class SputterStep(StepBase):
    equipment_class: Literal["sputter"]
    setpoints: SputterSetpoints
    layer: LayerSpec


class CoaterStep(StepBase):
    equipment_class: Literal["coater"]
    setpoints: CoaterSetpoints
    layer: LayerSpec


class ConsumedLot(Strict):
    role: Literal["anode", "cathode", "separator"]
    recipe: Identifier | None = Field(None, description="the recipe that must have made it (none: purchased)")
    material: str = Field(min_length=1, max_length=200)
    width_mm: float = Field(gt=0, le=2_000)
    length_per_cell_m: float = Field(gt=0, le=100)
    plies: int = Field(1, ge=1, le=4, description="webs of it in one cell (2 separators)")


class Overhang(Strict):
    width_mm: float = Field(ge=0, le=20, description="per side, across the web [mm]")
    length_mm: float = Field(ge=0, le=200, description="at each end, along the web [mm]")


class CellSpec(Strict):
    format: str = Field(min_length=1, max_length=40, description="e.g. 18650")
    electrolyte: Literal["liquid", "gel", "solid"]
    exterior: Literal["can", "laminate_film"]
    nominal_capacity_mah: float = Field(gt=0, le=1_000_000)


class WindingSpec(Strict):
    consumes: list[ConsumedLot] = Field(min_length=1)
    direction: Literal["lengthwise", "crosswise"]
    anode_overhang: Overhang = Field(description="anode beyond the cathode")
    separator_overhang: Overhang = Field(description="separator beyond the anode")
    edge_tolerance_mm: float = Field(gt=0, le=5)
    cell: CellSpec


class WinderStep(StepBase):
    equipment_class: Literal["winder"]
    setpoints: WinderSetpoints
    winding: WindingSpec
    inspection: list[CharacteristicSpec] = Field(default_factory=list)


Step = Annotated[SputterStep | CoaterStep | WinderStep, Field(discriminator="equipment_class")]


class Substrate(Strict):
    """The web the first layer is deposited on (current collector foil or polymer film)."""

    kind: Literal["metal_foil", "polymer_film"]
    material: str = Field(min_length=1, max_length=200)
    composition: list[Component] = Field(min_length=1)
    thickness_um: float = Field(gt=0, le=500)
    resin: ResinClass | None = None
    true_specific_gravity_g_cc: float | None = Field(None, gt=0, le=25)


class Inputs(Strict):
    substrate: Substrate | None = None


class Produces(Strict):
    kind: Literal["anode", "cathode", "cell"]
    width_mm: float | None = Field(None, gt=0, le=2_000)
    length_m: float | None = Field(None, gt=0, le=20_000)
    cells: int | None = Field(None, ge=1, le=100_000, description="cells per lot (winding recipes)")


class Recipe(Strict):
    """A recipe version as engineers write it (``recipes/*.yaml``)."""

    id: Identifier
    version: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    product_family: ProductFamily
    description: str = Field("", max_length=4_000)
    produces: Produces
    inputs: Inputs = Field(default_factory=Inputs)
    steps: list[Step] = Field(min_length=1)


def recipe_json_schema() -> dict[str, object]:
    """The JSON Schema of recipe files, as committed in ``recipes/schema/recipe.schema.json``."""
    schema = Recipe.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "MES recipe", **schema}
