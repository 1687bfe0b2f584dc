"""Claim rules: does a recipe really make what its product family's patent claims?

Each family checks the recipes that make its anode, its cathode and its cell
against the independent claims of its seed (``shared/seeds/``). A violation
names the rule, the seed file and the claim numbers, and points at the field to
change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mes.recipes.chem import METALS, Formula, compound_class, is_lithium_metal_oxide, parse_formula
from mes.recipes.errors import Loc
from mes.recipes.schema import (
    CarbonForm,
    CharacteristicName,
    Component,
    LayerSpec,
    Method,
    ProductFamily,
    Recipe,
    Unit,
    WinderStep,
)

SEED_ALLOY_FILM = "000_7bf5625862584864.txt"
SEED_CAPPED_SI = "001_943a798d67557de1.txt"
SEED_THIN_COMPOSITE = "002_f94a8706eb829429.txt"

# Metals that alloy with lithium (seed 000, claim 2).
LI_ALLOYING = frozenset("Mg B Al Ga In Si Ge Sn Pb Sb Bi Cd Ag Zn Hf Zr Y".split())
VAPOUR_PHASE = frozenset(
    {
        Method.DC_MAGNETRON_SPUTTERING,
        Method.RF_MAGNETRON_SPUTTERING,
        Method.VACUUM_EVAPORATION,
        Method.E_BEAM_EVAPORATION,
        Method.ION_PLATING,
        Method.CVD,
    }
)
THIN_FILM = VAPOUR_PHASE  # "thin film forming technique" of seed 000
LIQUID_PHASE = frozenset({Method.ELECTROPLATING, Method.ELECTROLESS_PLATING})
DEPOSITION = VAPOUR_PHASE | LIQUID_PHASE | {Method.SINTERING}
COLLECTOR_METALS = frozenset("Cu Ni Ti Fe Cr".split())
CAP_METALS = frozenset({"Cu", "Ni"})
CATHODE_METALS_000 = frozenset("Co Ni Mn Fe Al V Ti".split())
TRANSITION_METALS = frozenset(
    "Sc Ti V Cr Mn Fe Co Ni Cu Zn Y Zr Nb Mo Ru Rh Pd Ag Cd Hf Ta W Re Os Ir Pt Au".split()
)
COMPOSITE_METALS = frozenset("Sn Ge In Pb Ag Sb".split())
CARBON_FORMS = frozenset({CarbonForm.AMORPHOUS, CarbonForm.GRAPHITE})
NM_PER = {Unit.NM: 1.0, Unit.UM: 1e3, Unit.MM: 1e6}

Found = Iterator[tuple[Loc, str]]


@dataclass(frozen=True)
class Rule:
    family: ProductFamily
    name: str
    seed: str
    claims: str

    @property
    def label(self) -> str:
        """How a violation names the rule: ``claim rule FAMILY/NAME (SEED claim N)``."""
        return f"claim rule {self.family}/{self.name} ({self.seed} claim {self.claims})"

    def violation(self, loc: Loc, message: str) -> tuple[Loc, str]:
        return loc, f"{self.label}: {message}"


# The claims each rule stands for (seed file, claim numbers); grouped by product family and lot kind
# in RULES_OF below.
LI_ALLOYING_THIN_FILM = Rule(ProductFamily.ALLOY_FILM_ANODE, "li-alloying-thin-film", SEED_ALLOY_FILM, "1-2")
SECOND_METAL_OR_CARBON = Rule(ProductFamily.ALLOY_FILM_ANODE, "second-metal-or-carbon", SEED_ALLOY_FILM, "1")
POLYMER_SUBSTRATE = Rule(ProductFamily.ALLOY_FILM_ANODE, "polymer-substrate", SEED_ALLOY_FILM, "7-8")
LITHIUM_METAL_OXIDE_CATHODE = Rule(
    ProductFamily.ALLOY_FILM_ANODE, "lithium-metal-oxide-cathode", SEED_ALLOY_FILM, "9"
)
WOUND_LENGTHWISE = Rule(
    ProductFamily.ALLOY_FILM_ANODE, "band-electrodes-wound-lengthwise", SEED_ALLOY_FILM, "10"
)
COLLECTOR_METAL = Rule(ProductFamily.CAPPED_SI_ANODE, "collector-metal", SEED_CAPPED_SI, "1, 9")
SI_GE_ACTIVE_LAYER = Rule(ProductFamily.CAPPED_SI_ANODE, "si-ge-active-layer", SEED_CAPPED_SI, "1, 7")
CU_NI_CAP_LAYER = Rule(ProductFamily.CAPPED_SI_ANODE, "cu-ni-cap-layer", SEED_CAPPED_SI, "1, 8, 10")
CAP_THICKNESS = Rule(ProductFamily.CAPPED_SI_ANODE, "cap-thickness-50-1000-nm", SEED_CAPPED_SI, "11")
LITHIUM_COMPLEX_OXIDE_CATHODE = Rule(
    ProductFamily.CAPPED_SI_ANODE, "lithium-complex-oxide-cathode", SEED_CAPPED_SI, "25"
)
COMPOSITE_LAYER = Rule(
    ProductFamily.THIN_COMPOSITE_ANODE, "composite-layer-1-30-um", SEED_THIN_COMPOSITE, "1-3"
)
THIN_CARBON_LAYER = Rule(
    ProductFamily.THIN_COMPOSITE_ANODE, "carbon-layer-below-1-um", SEED_THIN_COMPOSITE, "4-5"
)
LITHIUM_TRANSITION_METAL_OXIDE_CATHODE = Rule(
    ProductFamily.THIN_COMPOSITE_ANODE, "lithium-transition-metal-oxide-cathode", SEED_THIN_COMPOSITE, "8"
)


def _formulas(components: list[Component]) -> list[Formula]:
    return [parse_formula(c.formula) for c in components]


def _elements(components: list[Component]) -> frozenset[str]:
    return frozenset().union(*(f.elements for f in _formulas(components)))


def _layers(recipe: Recipe) -> list[tuple[Loc, LayerSpec]]:
    return [
        (("steps", i, "layer"), s.layer) for i, s in enumerate(recipe.steps) if not isinstance(s, WinderStep)
    ]


def _thickness_nm(layer: LayerSpec, loc: Loc) -> tuple[float, float, Loc] | None:
    for i, c in enumerate(layer.characteristics):
        if c.name == CharacteristicName.THICKNESS and c.unit in NM_PER:
            return c.lsl * NM_PER[c.unit], c.usl * NM_PER[c.unit], (*loc, "characteristics", i)
    return None


def _material_loc(layers: list[tuple[Loc, LayerSpec]], fallback: Loc = ("steps",)) -> Loc:
    """Where to point when no layer has the claimed material: the first layer's main component."""
    return (*layers[0][0], "composition", 0, "formula") if layers else fallback


def _is_carbon(component: Component) -> bool:
    return component.formula == "C" and component.form in CARBON_FORMS


# --- seed 000: alloy-film anode ------------------------------------------------------------------


def _alloy_film_anode(recipe: Recipe) -> Found:
    film = LI_ALLOYING_THIN_FILM
    partner = SECOND_METAL_OR_CARBON
    polymer = POLYMER_SUBSTRATE
    layers = _layers(recipe)
    films = [
        (loc, lay)
        for loc, lay in layers
        if lay.method in THIN_FILM and _elements(lay.composition) & LI_ALLOYING
    ]
    if not films:
        # The active film is deposited last (on its collector): point there.
        thin = [(loc, lay) for loc, lay in layers if lay.method in THIN_FILM]
        yield film.violation(
            _material_loc((thin or layers)[-1:]),
            "no layer made by a thin-film technique (sputtering, evaporation, ion plating, CVD) contains a "
            f"lithium-alloying metal ({', '.join(sorted(LI_ALLOYING))})",
        )
    first = frozenset().union(*(_elements(lay.composition) & LI_ALLOYING for _, lay in films))
    others = frozenset().union(*(_elements(lay.composition) for _, lay in layers)) - first
    if films and not others & (METALS | {"C"}):
        yield partner.violation(
            _material_loc(films),
            "the anode holds no second metal (e.g. Cu, Ni), no further metal and no carbonaceous material "
            "beside its lithium-alloying film",
        )
    substrate = recipe.inputs.substrate
    if substrate is not None and substrate.kind == "polymer_film":
        loc: Loc = ("inputs", "substrate")
        if substrate.resin is not None and substrate.resin.value == "oxygen_containing":
            yield polymer.violation(
                (*loc, "resin"),
                "the polymer must be an olefinic, sulfur-, nitrogen- or fluorine-containing resin",
            )
        gravity = substrate.true_specific_gravity_g_cc
        if gravity is not None and not 0.9 <= gravity <= 1.8:
            yield polymer.violation(
                (*loc, "true_specific_gravity_g_cc"),
                f"true specific gravity {gravity:g} g/cc is outside 0.9–1.8 g/cc",
            )


def _alloy_film_cathode(recipe: Recipe) -> Found:
    rule = LITHIUM_METAL_OXIDE_CATHODE
    if not any(
        is_lithium_metal_oxide(f, CATHODE_METALS_000)
        for _, lay in _layers(recipe)
        for f in _formulas(lay.composition)
    ):
        yield rule.violation(
            _material_loc(_layers(recipe)),
            "no layer holds a cathode material Li_xM_yO_z with M from Co, Ni, Mn, Fe, Al, V, Ti",
        )


def _alloy_film_cell(recipe: Recipe) -> Found:
    rule = WOUND_LENGTHWISE
    for i, step in enumerate(recipe.steps):
        if isinstance(step, WinderStep) and step.winding.direction != "lengthwise":
            yield rule.violation(
                ("steps", i, "winding", "direction"),
                "the band-shaped cathode and anode are coiled along their length (direction: lengthwise)",
            )


# --- seed 001: capped Si/Ge anode ----------------------------------------------------------------


def _capped_si_anode(recipe: Recipe) -> Found:
    collector = COLLECTOR_METAL
    active = SI_GE_ACTIVE_LAYER
    cap = CU_NI_CAP_LAYER
    cap_thickness = CAP_THICKNESS
    substrate = recipe.inputs.substrate
    if substrate is not None and not _elements(substrate.composition) & COLLECTOR_METALS:
        yield collector.violation(
            ("inputs", "substrate", "composition"),
            "the current collector contains none of Cu, Ni, Ti, Fe, Cr",
        )
    layers = _layers(recipe)
    actives = [i for i, (_, lay) in enumerate(layers) if _elements(lay.composition) & {"Si", "Ge"}]
    if not actives:
        yield active.violation(_material_loc(layers), "no active layer contains silicon or germanium")
        return
    for i in actives:
        loc, layer = layers[i]
        if layer.method not in DEPOSITION:
            yield active.violation(
                (*loc, "method"), f"{layer.method} is not vapour-phase, liquid-phase deposition or sintering"
            )
    last = actives[-1]
    caps = [(loc, lay) for loc, lay in layers[last + 1 :] if _elements(lay.composition) & CAP_METALS]
    if not caps:
        on_top = layers[last + 1 :]
        where = (*on_top[-1][0], "composition", 0, "formula") if on_top else ("steps",)
        yield cap.violation(where, "no layer containing Cu or Ni is deposited on top of the Si/Ge layer")
        return
    loc, layer = caps[-1]
    if layer.method not in DEPOSITION:
        yield cap.violation(
            (*loc, "method"), f"{layer.method} is not vapour-phase, liquid-phase deposition or sintering"
        )
    thickness = _thickness_nm(layer, loc)
    if thickness is None:
        yield cap_thickness.violation(
            (*loc, "characteristics"), "the cap layer has no thickness specification"
        )
        return
    lsl_nm, usl_nm, char_loc = thickness
    if lsl_nm < 50:
        yield cap_thickness.violation((*char_loc, "lsl"), f"LSL {lsl_nm:g} nm is below 50 nm")
    if usl_nm > 1000:
        yield cap_thickness.violation((*char_loc, "usl"), f"USL {usl_nm:g} nm is above 1000 nm")


def _lithium_complex_oxide(rule: Rule, metals: frozenset[str], what: str) -> Callable[[Recipe], Found]:
    def check(recipe: Recipe) -> Found:
        for _, layer in _layers(recipe):
            for f in _formulas(layer.composition):
                if is_lithium_metal_oxide(f, METALS) and f.elements & metals:
                    return
        yield rule.violation(_material_loc(_layers(recipe)), f"no layer holds a {what}")

    return check


# --- seed 002: thin composite / thin carbon anode ------------------------------------------------


def _thin_composite(recipe: Recipe) -> tuple[Rule | None, list[tuple[Loc, str]]]:
    """Which of seed 002's alternatives a recipe realises (None: neither), and what is wrong when
    it realises none."""
    composite = COMPOSITE_LAYER
    carbon = THIN_CARBON_LAYER
    found: list[tuple[Loc, str]] = []
    for loc, layer in _layers(recipe):
        metal_salts = [
            f
            for f in _formulas(layer.composition)
            if f.elements & COMPOSITE_METALS and compound_class(f) in ("oxide", "sulfide", "salt")
        ]
        carbons = [c for c in layer.composition if _is_carbon(c)]
        thickness = _thickness_nm(layer, loc)
        if metal_salts:
            problems: list[tuple[Loc, str]] = []
            if not any("B" in c.dopants for c in carbons):
                problems.append(
                    composite.violation(
                        (*loc, "composition"),
                        "the layer with an oxide/sulfide/salt of Sn, Ge, In, Pb, Ag or Sb has no boron-added "
                        "carbon (formula C, form amorphous or graphite, dopants [B])",
                    )
                )
            if thickness is None:
                problems.append(composite.violation((*loc, "characteristics"), "no thickness specification"))
            else:
                lsl_nm, usl_nm, char_loc = thickness
                if lsl_nm < 1000:
                    problems.append(
                        composite.violation((*char_loc, "lsl"), f"LSL {lsl_nm / 1000:g} µm is below 1 µm")
                    )
                if usl_nm > 30_000:
                    problems.append(
                        composite.violation((*char_loc, "usl"), f"USL {usl_nm / 1000:g} µm is above 30 µm")
                    )
            if not problems:
                return composite, []
            found.extend(problems)
        elif carbons and not _elements(layer.composition) & METALS:
            if thickness is None:
                found.append(carbon.violation((*loc, "characteristics"), "no thickness specification"))
            elif thickness[1] >= 1000:
                found.append(
                    carbon.violation(
                        (*thickness[2], "usl"), f"USL {thickness[1]:g} nm is not below 1 µm (1000 nm)"
                    )
                )
            else:
                return carbon, []
    if not found:
        found.append(
            composite.violation(
                _material_loc(_layers(recipe)),
                "no layer of an oxide/sulfide/salt of Sn, Ge, In, Pb, Ag or Sb with boron-added carbon "
                "(1–30 µm), nor a carbon layer thinner than 1 µm",
            )
        )
    return None, found


def _thin_composite_anode(recipe: Recipe) -> Found:
    yield from _thin_composite(recipe)[1]


RULES: dict[tuple[ProductFamily, str], Callable[[Recipe], Found]] = {
    (ProductFamily.ALLOY_FILM_ANODE, "anode"): _alloy_film_anode,
    (ProductFamily.ALLOY_FILM_ANODE, "cathode"): _alloy_film_cathode,
    (ProductFamily.ALLOY_FILM_ANODE, "cell"): _alloy_film_cell,
    (ProductFamily.CAPPED_SI_ANODE, "anode"): _capped_si_anode,
    (ProductFamily.CAPPED_SI_ANODE, "cathode"): _lithium_complex_oxide(
        LITHIUM_COMPLEX_OXIDE_CATHODE,
        METALS - {"Li"},
        "lithium-containing metal complex oxide",
    ),
    (ProductFamily.THIN_COMPOSITE_ANODE, "anode"): _thin_composite_anode,
    (ProductFamily.THIN_COMPOSITE_ANODE, "cathode"): _lithium_complex_oxide(
        LITHIUM_TRANSITION_METAL_OXIDE_CATHODE,
        TRANSITION_METALS,
        "lithium transition-metal composite oxide",
    ),
}


# The rules a recipe of each product family and lot kind is checked against (what it realises once
# none of them is violated).
RULES_OF: dict[tuple[ProductFamily, str], tuple[Rule, ...]] = {
    (ProductFamily.ALLOY_FILM_ANODE, "anode"): (
        LI_ALLOYING_THIN_FILM,
        SECOND_METAL_OR_CARBON,
        POLYMER_SUBSTRATE,
    ),
    (ProductFamily.ALLOY_FILM_ANODE, "cathode"): (LITHIUM_METAL_OXIDE_CATHODE,),
    (ProductFamily.ALLOY_FILM_ANODE, "cell"): (WOUND_LENGTHWISE,),
    (ProductFamily.CAPPED_SI_ANODE, "anode"): (
        COLLECTOR_METAL,
        SI_GE_ACTIVE_LAYER,
        CU_NI_CAP_LAYER,
        CAP_THICKNESS,
    ),
    (ProductFamily.CAPPED_SI_ANODE, "cathode"): (LITHIUM_COMPLEX_OXIDE_CATHODE,),
    (ProductFamily.THIN_COMPOSITE_ANODE, "anode"): (COMPOSITE_LAYER, THIN_CARBON_LAYER),
    (ProductFamily.THIN_COMPOSITE_ANODE, "cathode"): (LITHIUM_TRANSITION_METAL_OXIDE_CATHODE,),
}


def _rules_that_apply(recipe: Recipe) -> tuple[Rule, ...]:
    """The rules of ``recipe``'s family and lot kind that say something about it: the polymer
    substrate's only on a polymer film, and of seed 002's two alternatives the one it realises."""
    rules = RULES_OF.get((recipe.product_family, recipe.produces.kind), ())
    substrate = recipe.inputs.substrate
    if substrate is None or substrate.kind != "polymer_film":
        rules = tuple(r for r in rules if r is not POLYMER_SUBSTRATE)
    alternatives = (COMPOSITE_LAYER, THIN_CARBON_LAYER)
    if COMPOSITE_LAYER in rules:
        realised, _ = _thin_composite(recipe)
        if realised is not None:
            rules = tuple(r for r in rules if r is realised or r not in alternatives)
    return rules


def claim_rules(recipe: Recipe) -> list[tuple[Rule, list[tuple[Loc, str]]]]:
    """Each rule of ``recipe``'s product family and lot kind that applies to it, with its violations;
    a recipe without any violation realises the claims of every rule listed."""
    issues = list(claim_issues(recipe))
    return [
        (rule, [(loc, message) for loc, message in issues if message.startswith(f"{rule.label}:")])
        for rule in _rules_that_apply(recipe)
    ]


def claim_issues(recipe: Recipe) -> Found:
    """Violations of the claims of ``recipe``'s product family for the lot kind it produces."""
    check = RULES.get((recipe.product_family, recipe.produces.kind))
    if check is not None:
        yield from check(recipe)
