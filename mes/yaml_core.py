"""Plain YAML scalars typed by the YAML 1.2 core schema, and the YAML 1.1 readings refused.

PyYAML resolves plain scalars by YAML 1.1, where ``010`` is 8, ``1:30`` is 90,
``1_000`` is 1000 and ``on`` is true. A file must mean one thing to every tool
that reads it, and the same thing it meant when this loader still read YAML 1.1:
so the core schema types a plain scalar, and one that a YAML 1.1 reader would
take for another number or for a boolean is refused with what to write instead
(``docs/decisions/011-yaml-numbers.md``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

NULL, BOOL = "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
INT, FLOAT, STR = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:str"
# The core schema's resolution, https://yaml.org/spec/1.2.2/#1032-tag-resolution (first match wins).
_CORE: tuple[tuple[str, re.Pattern[str]], ...] = (
    (NULL, re.compile(r"~|null|Null|NULL|")),
    (BOOL, re.compile(r"true|True|TRUE|false|False|FALSE")),
    (INT, re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")),
    (
        FLOAT,
        re.compile(
            r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
        ),
    ),
)
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
TRAP = "tag:mes,2024:yaml11-trap"  # a plain scalar YAML 1.1 reads differently: refused by the builder
CORE_TAGS = frozenset({NULL, BOOL, INT, FLOAT})
# PyYAML's YAML 1.1 resolution, to recognise what it reads differently (its stubs leave it untyped).
_resolve_yaml11: Callable[[Any, str, tuple[bool, bool]], str] = yaml.resolver.Resolver().resolve


def core_tag(text: str) -> str:
    """The YAML 1.2 core schema tag of a plain scalar."""
    return next((tag for tag, pattern in _CORE if pattern.fullmatch(text)), STR)


def core_value(tag: str, text: str) -> Any:
    """The Python value of ``text`` read as the core schema's ``tag`` (a form that tag accepts)."""
    if tag == NULL:
        return None
    if tag == BOOL:
        return text.lower() == "true"
    if tag == INT:
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return int(text[2:] if base != 10 else text, base)
    if text.lstrip("+-").lower() == ".inf":
        return -math.inf if text.startswith("-") else math.inf
    return math.nan if text.lower() == ".nan" else float(text)


def core_scalar(tag: str, text: str) -> Any:
    """The value of a plain scalar (or of an explicit ``!!int``, ``!!float``, ``!!bool``, ``!!null``).

    Raises ``ValueError`` with the reason when YAML 1.1 reads ``text`` differently
    or ``text`` is not of the explicit tag.
    """
    trap = yaml11_trap(text)
    if trap:
        raise ValueError(trap)
    found = core_tag(text)
    if found != tag and not (tag == FLOAT and found == INT):
        raise ValueError(f"cannot read {text!r} as {tag.rsplit(':', 1)[1]}")
    return core_value(tag, text)


def yaml11_boolean(text: str) -> bool:
    """Whether a plain scalar is text to YAML 1.2 and a boolean to YAML 1.1 (``on``, ``No``, ``YES``)."""
    return core_tag(text) == STR and _resolve_yaml11(yaml.ScalarNode, text, (True, False)) == BOOL


def yaml11_trap(text: str) -> str | None:
    """Why a plain scalar is refused, or None: it means something else to a YAML 1.1 reader.

    A form YAML 1.1 reads as text and YAML 1.2 as a number (``1e3``) is kept: a 1.1
    reader gets text, which no number field takes for another number. The leading
    zero and ``0o`` are refused either way: octal is never what a recipe means.
    """
    core = core_tag(text)
    old = _resolve_yaml11(yaml.ScalarNode, text, (True, False))
    if core == INT and _LEADING_ZERO.fullmatch(text):
        decimal = int(text)
        if old == INT:
            octal = SafeConstructor().construct_yaml_int(yaml.ScalarNode(INT, text))
            reading = f"YAML 1.1 reads it as octal {octal}, YAML 1.2 as {decimal}"
        else:
            reading = f"YAML 1.2 reads it as {decimal}, YAML 1.1 as text"
        return f"{text!r} has a leading zero: {reading}; write {decimal} (or quote it if it is a name)"
    if core == INT and text.startswith("0o"):
        decimal = int(text[2:], 8)
        return f"{text!r} is octal {decimal} to YAML 1.2 and text to YAML 1.1; write {decimal} (or quote it)"
    if core != STR or old not in (BOOL, INT, FLOAT):
        return None  # both read the same, or YAML 1.1 reads text (a date, '=', '<<' stay text too)
    if old == BOOL:
        return (
            f"{text!r} is a boolean to YAML 1.1 and text to YAML 1.2; write true or false, "
            f"or quote it ('{text}') if you mean the word"
        )
    try:
        number = getattr(SafeConstructor(), f"construct_yaml_{old.rsplit(':', 1)[1]}")(
            yaml.ScalarNode(old, text)
        )
    except ValueError:
        return (
            None  # '0b_', '0x_', '._': YAML 1.1's pattern, but no number a reader can make; text to YAML 1.2
        )
    kind = "the base-60 number" if ":" in text else "the binary number" if "0b" in text else "the number"
    separators = " (digit separators)" if "_" in text else ""
    return (
        f"{text!r} is {kind} {number}{separators} to YAML 1.1 and text to YAML 1.2; write {number}, "
        "or quote it if you mean text"
    )


class CoreLoader(yaml.SafeLoader):
    """Composes nodes with the YAML 1.2 core schema's tags for plain scalars.

    PyYAML resolves by YAML 1.1; a plain scalar it would read differently gets
    the tag ``TRAP``, which the builder refuses with :func:`yaml11_trap`'s reason.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return TRAP if yaml11_trap(value) else core_tag(value)
        resolve: Callable[[Any, Any, Any], Any] = super().resolve
        return resolve(kind, value, implicit)
