"""Injectable faults: ``UNIT:KIND[,key=value…]`` items separated by ``;``.

Kinds and their keys (positions are metres into the current job):

==============  ==================================================  ===================
kind            effect                                              keys (default)
==============  ==================================================  ===================
drift           gauge values creep up (or down)                     pct_per_100m (2), start_m (0)
step            gauge values jump                                   pct (5), at_m (0)
noise           gauge noise grows                                   factor (4), start_m (0)
arc             sputter arc burst: thin spot, arc counter           at_m (0), length_m (0.5), depth_pct (20)
tension_spike   web tension spike; winder edge jumps                at_m (0), length_m (0.5), pct (60)
web_break       the web breaks: the machine aborts                  at_m (0)
stuck           the next acting state never finishes                (none)
drop            every client connection is closed                   at_m (0)
freeze          the server stops answering                          seconds (5), at_m (0)
refuse          a command is refused: a PackTags machine stays,     command (Start: name or
                resets CmdChangeRequest and counts the refusal;     PackTags number), times
                a method machine answers Good and does nothing      (1; 0 = while armed)
unknown_state   the state variable shows an unmapped number for     seconds (1), at_m (0),
                ``seconds``, then the true state                    number (999)
bad_status      a node answers a Bad status for ``seconds``         node (state), status
                (0 = until the job ends)                            (BadSensorFailure),
                                                                    seconds (0), at_m (0)
nan             gauge lanes read NaN over a stretch                 at_m (0), length_m (1), lanes (0 = all)
dead_gauge      the gauges make no more scans (sequence stops)      at_m (0)
==============  ==================================================  ===================

``node`` is a logical profile key (``state``, ``job.id``, ``pv.power_w``, ``sp.power_w``).

A fault is armed for the current job (or the next one when the unit is not
executing) and expires with it; ``repeat=1`` keeps it for every job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mes.sim.errors import FaultSpecError

DEFAULTS: dict[str, dict[str, float]] = {
    "drift": {"pct_per_100m": 2.0, "start_m": 0.0},
    "step": {"pct": 5.0, "at_m": 0.0},
    "noise": {"factor": 4.0, "start_m": 0.0},
    "arc": {"at_m": 0.0, "length_m": 0.5, "depth_pct": 20.0},
    "tension_spike": {"at_m": 0.0, "length_m": 0.5, "pct": 60.0},
    "web_break": {"at_m": 0.0},
    "stuck": {},
    "drop": {"at_m": 0.0},
    "freeze": {"seconds": 5.0, "at_m": 0.0},
    "refuse": {"times": 1.0},
    "unknown_state": {"seconds": 1.0, "at_m": 0.0, "number": 999.0},
    "bad_status": {"seconds": 0.0, "at_m": 0.0},
    "nan": {"at_m": 0.0, "length_m": 1.0, "lanes": 0.0},
    "dead_gauge": {"at_m": 0.0},
}
# Keys whose value is a name, not a number.
TEXT_DEFAULTS: dict[str, dict[str, str]] = {
    "refuse": {"command": "Start"},
    "bad_status": {"node": "state", "status": "BadSensorFailure"},
}


# Positions, lengths, durations and counts: a negative one would never fire, silently.
NON_NEGATIVE = frozenset({"at_m", "start_m", "length_m", "seconds", "lanes", "times", "factor"})
WHOLE = frozenset({"lanes", "times", "number"})
REPEAT_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass
class Fault:
    kind: str
    params: dict[str, float] = field(default_factory=dict)
    repeat: bool = False
    job: str | None = None  # only for this job id (armed ahead of its Start)
    fired: bool = False  # one-shot actions (drop, freeze, web_break) happen once per job
    text: dict[str, str] = field(default_factory=dict)
    count: int = 0  # refusals made so far (refuse)
    until: float | None = None  # monotonic end of unknown_state / bad_status once fired (inf: job end)

    def __getitem__(self, key: str) -> float:
        return self.params[key]

    def spans(self, position_m: float, start_key: str = "at_m") -> bool:
        start = self.params.get(start_key, 0.0)
        length = self.params.get("length_m")
        return position_m >= start and (length is None or position_m <= start + length)


def parse_fault(text: str) -> Fault:
    """``drift,pct_per_100m=3,start_m=100`` → :class:`Fault`."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise FaultSpecError("empty fault specification")
    kind = parts[0]
    if kind not in DEFAULTS:
        raise FaultSpecError(f"unknown fault {kind!r}; known: {', '.join(DEFAULTS)}")
    params = dict(DEFAULTS[kind])
    words = dict(TEXT_DEFAULTS.get(kind, {}))
    repeat = False
    given: set[str] = set()
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            raise FaultSpecError(f"{kind}: expected key=value, got {part!r}")
        if key in given:
            raise FaultSpecError(f"{kind}: {key} is given twice")
        given.add(key)
        if key == "repeat":
            if value.strip() not in REPEAT_WORDS:
                raise FaultSpecError(f"{kind}: repeat={value.strip()!r}; give 1 or 0")
            repeat = REPEAT_WORDS[value.strip()]
            continue
        if key in words:
            words[key] = value.strip()
            continue
        if key not in params:
            takes = ", ".join([*params, *words]) or "no keys"
            raise FaultSpecError(f"{kind}: unknown key {key!r}; it takes {takes}")
        try:
            number = float(value)
        except ValueError as exc:
            raise FaultSpecError(f"{kind}: {key}={value!r} is not a number") from exc
        if not math.isfinite(number):
            # float() reads "nan" and "inf": a fault position or size that is not a number would
            # silently never fire (every comparison with NaN is false).
            raise FaultSpecError(f"{kind}: {key}={value.strip()!r} is not a finite number")
        if key in NON_NEGATIVE and number < 0:
            raise FaultSpecError(f"{kind}: {key}={value.strip()} is negative; such a fault never fires")
        if key in WHOLE and number != int(number):
            raise FaultSpecError(f"{kind}: {key}={value.strip()} is not a whole number")
        params[key] = number
    return Fault(kind, params, repeat, text=words)


def parse_line_faults(spec: str, units: set[str]) -> dict[str, list[Fault]]:
    """``sputter-1:drift,pct_per_100m=3;coater-1:step`` → faults per unit."""
    faults: dict[str, list[Fault]] = {}
    for item in (i.strip() for i in spec.split(";")):
        if not item:
            continue
        unit, sep, rest = item.partition(":")
        if not sep:
            raise FaultSpecError(f"{item!r}: expected UNIT:KIND[,key=value…]")
        if unit not in units:
            raise FaultSpecError(f"{item!r}: no unit {unit!r} on this line ({', '.join(sorted(units))})")
        faults.setdefault(unit, []).append(parse_fault(rest))
    return faults
