"""Just enough chemistry to check a recipe's materials against the claims.

Formulas are plain empirical formulas with optional decimal counts
(``LiNi0.8Co0.15Al0.05O2``, ``SnO2``, ``Si``, ``C``); no brackets or hydrates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mes.recipes.errors import FormulaError

ELEMENTS = frozenset(
    """H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br
    Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm
    Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn""".split()
)
NON_METALS = frozenset("H He B C N O F Ne Si P S Cl Ar Ge As Se Br Kr Te I Xe At Rn".split())
HALOGENS = frozenset("F Cl Br I".split())
METALS = ELEMENTS - NON_METALS

_TOKEN = re.compile(r"([A-Z][a-z]?)(\d+(?:\.\d+)?|\.\d+)?")


@dataclass(frozen=True)
class Formula:
    text: str
    counts: tuple[tuple[str, float], ...]

    @property
    def elements(self) -> frozenset[str]:
        return frozenset(e for e, _ in self.counts)

    def count(self, element: str) -> float:
        return sum(n for e, n in self.counts if e == element)


def parse_formula(text: str) -> Formula:
    """Parse ``text``; raise :class:`FormulaError` saying what is wrong."""
    if not text or len(text) > 100:
        raise FormulaError("a formula is 1 to 100 characters, e.g. Si, SnO2 or LiCoO2")
    pos = 0
    counts: list[tuple[str, float]] = []
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FormulaError(f"cannot read {text!r} as a formula at {text[pos:]!r} (expected e.g. SnO2)")
        symbol, number = match.group(1), match.group(2)
        if symbol not in ELEMENTS:
            raise FormulaError(f"{symbol!r} in {text!r} is not an element")
        count = float(number) if number else 1.0
        if count <= 0:
            raise FormulaError(f"the count of {symbol} in {text!r} must be positive")
        counts.append((symbol, count))
        pos = match.end()
    return Formula(text=text, counts=tuple(counts))


def compound_class(formula: Formula) -> str:
    """Classify a formula: element, alloy, carbon, oxide, sulfide, salt, or compound.

    Salts are taken as halides and oxo-salts (sulfates, nitrates, phosphates,
    carbonates): anything with a halogen, or oxygen together with S, N, P or C.
    """
    elements = formula.elements
    if elements == {"C"}:
        return "carbon"
    if len(elements) == 1:
        return "element"
    if elements <= METALS | {"Si", "Ge", "B"}:
        return "alloy"
    if elements & HALOGENS or ("O" in elements and elements & {"S", "N", "P", "C"}):
        return "salt"
    if "O" in elements:
        return "oxide"
    if "S" in elements:
        return "sulfide"
    return "compound"


def is_lithium_metal_oxide(formula: Formula, metals: frozenset[str]) -> bool:
    """True for Li_xM_yO_z with every M in ``metals`` (at least one M)."""
    elements = formula.elements
    rest = elements - {"Li", "O"}
    return {"Li", "O"} <= elements and bool(rest) and rest <= metals
