"""Values ↔ OPC UA variants: nothing is written that its node's data type cannot hold,
and nothing read is trusted as a number unless it is a finite one.

A server answers a value of the wrong variant type or out of its type's range with
``BadTypeMismatch`` / ``BadOutOfRange`` — or, worse, the client cannot even encode it
and the request never leaves. Both are checked here, before any request is sent.
"""

from __future__ import annotations

import math
from typing import Any

from asyncua import ua

from mes.equipment.errors import EncodingRefused

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "SByte": (-(2**7), 2**7 - 1),
    "Byte": (0, 2**8 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "UInt16": (0, 2**16 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "UInt32": (0, 2**32 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt64": (0, 2**64 - 1),
}
FLOAT_MAX = 3.4028234663852886e38  # largest finite IEEE 754 single


def encoding_problem(value: Any, data_type: str) -> str | None:
    """Why ``value`` cannot be written as ``data_type`` (None when it can)."""
    if data_type == "String":
        return None if isinstance(value, str) else f"{value!r} is not a string (String)"
    if data_type == "Boolean":
        return None if isinstance(value, bool) else f"{value!r} is not a Boolean"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} is not a number ({data_type})"
    if not math.isfinite(value):
        return f"{value!r} is not a finite number ({data_type})"
    if data_type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[data_type]
        if value != int(value):
            return f"{value:g} is not a whole number ({data_type})"
        if not low <= int(value) <= high:
            return f"{value:g} does not fit a {data_type} ({low}…{high})"
        return None
    if data_type == "Float":
        return None if abs(value) <= FLOAT_MAX else f"{value:g} does not fit a Float (±{FLOAT_MAX:.7g})"
    if data_type == "Double":
        return None
    return f"data type {data_type} is not supported for writing"


def encode(value: Any, data_type: str, *, where: str) -> ua.DataValue:
    """``value`` as a DataValue of exactly ``data_type``; :class:`EncodingRefused` naming
    ``where`` (``unit:entry``), the value and the data type when it cannot be."""
    problem = encoding_problem(value, data_type)
    if problem is not None:
        raise EncodingRefused(f"{where}: {problem}; nothing written")
    vt: ua.VariantType = getattr(ua.VariantType, data_type)
    cast: Any = value
    if data_type in INTEGER_RANGES:
        cast = int(value)
    elif data_type in ("Float", "Double"):
        cast = float(value)
    return ua.DataValue(ua.Variant(cast, vt))


def finite(raw: Any) -> float | None:
    """A value read from a machine as a finite float, or None when it is missing, not a
    number, NaN or ±Inf (a missing measurement, never a good one)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def whole(raw: Any) -> int | None:
    """A value read from a machine as an integer (counters, state numbers), or None."""
    value = finite(raw)
    if value is None or value != int(value):
        return None
    return int(value)
