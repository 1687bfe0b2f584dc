"""SPC run rules: all eight Nelson rules over a long series with the vectorised engine, against a plain
Python loop over the same points in the same run, and a check that both find the same violations.

    .venv/bin/python -m bench.spc_rules [--points 1000000] [--repeat 3] [--seed 1]

The data are standard normal values with shifted stretches (sustained shifts of the mean, short
bursts of large values, slow ramps), one per 10,000 points unless ``--stretch-every`` says
otherwise, so that every rule has something to find. Every violation found becomes a Python object
in both implementations, so the ratio falls as the data get wilder. The loop is the
implementation one would write first: one pass, a running counter per run rule and the last five
points for the "k of m" rules, no window re-scanned. Times are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from mes.quality import spc
from mes.quality.spc_rules import RuleSet, Violation, evaluate, nelson

T = TypeVar("T")
STRETCH_EVERY = 10_000


def make_data(points: int, seed: int, every: int) -> np.typing.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, points)
    # One stretch per `every` points on average: a shift of the mean, a burst, or a ramp.
    for start in rng.integers(0, max(1, points - 300), max(1, points // every)):
        kind, length = rng.integers(0, 3), int(rng.integers(10, 200))
        stretch = slice(int(start), int(start) + length)
        if kind == 0:
            x[stretch] += rng.choice([-1.5, 1.5])
        elif kind == 1:
            x[stretch] += rng.choice([-1, 1]) * rng.uniform(2.0, 4.0)
        else:
            x[stretch] += np.linspace(0, rng.choice([-3.0, 3.0]), x[stretch].size)
    return x


def loop_nelson(x: Sequence[float], center: float, sigma: float, rules: RuleSet) -> list[Violation]:
    """All enabled Nelson rules in one pass over the points, firing where each pattern completes."""
    on = rules.enabled
    found: list[Violation] = []
    above = below = ups = downs = turns = within = beyond = 0
    previous: float | None = None
    previous_step = 0
    recent: deque[tuple[int, float]] = deque(maxlen=5)

    def run(name: str, i: int, length: int) -> None:
        found.append(Violation(name, i, tuple(range(i - length + 1, i + 1))))

    def zone(name: str, i: int, limit: float, k: int, m: int) -> None:
        window = list(recent)[-m:]
        for side in (1, -1):
            if side * window[-1][1] > limit:
                hits = tuple(j for j, z in window if side * z > limit)
                if len(hits) >= k:
                    found.append(Violation(name, i, hits))

    for i, value in enumerate(x):
        z = (value - center) / sigma
        recent.append((i, z))
        step = 0 if previous is None else (1 if value > previous else -1 if value < previous else 0)
        above = above + 1 if z > 0 else 0
        below = below + 1 if z < 0 else 0
        ups = ups + 1 if step > 0 else 0
        downs = downs + 1 if step < 0 else 0
        turns = turns + 1 if step * previous_step < 0 else 0
        within = within + 1 if abs(z) < 1 else 0
        beyond = beyond + 1 if abs(z) > 1 else 0
        if 1 in on and abs(z) > 3:
            found.append(Violation("nelson-1", i, (i,)))
        if 2 in on and max(above, below) >= rules.run_length:
            run("nelson-2", i, rules.run_length)
        if 3 in on and max(ups, downs) >= rules.trend_length - 1:
            run("nelson-3", i, rules.trend_length)
        if 4 in on and turns >= rules.alternating_length - 2:
            run("nelson-4", i, rules.alternating_length)
        if 5 in on and abs(z) > 2:  # the firing point is one of the points beyond
            zone("nelson-5", i, 2.0, 2, 3)
        if 6 in on and abs(z) > 1:
            zone("nelson-6", i, 1.0, 4, 5)
        if 7 in on and within >= rules.within_length:
            run("nelson-7", i, rules.within_length)
        if 8 in on and beyond >= rules.beyond_length:
            run("nelson-8", i, rules.beyond_length)
        previous, previous_step = value, step
    return found


def best_of(repeat: int, work: Callable[[], T]) -> tuple[float, T]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t0)
    assert result is not None
    return min(times), result


def main(points: int, repeat: int, seed: int, every: int) -> None:
    x = make_data(points, seed, every)
    rules = nelson()
    as_list = x.tolist()  # the loop gets plain floats, as it would from a list of readings
    vector_s, vectorised = best_of(repeat, lambda: evaluate(x, 0.0, 1.0, rules))
    loop_s, looped = best_of(repeat, lambda: loop_nelson(as_list, 0.0, 1.0, rules))
    identical = list(vectorised) == looped
    limits = spc.ControlLimits(center=0.0, ucl=3.0, lcl=-3.0, sigma=1.0)
    chart_s, _ = best_of(repeat, lambda: spc.imr(x, limits=limits, rules=rules))
    by_rule = Counter(v.rule for v in vectorised)
    print(f"points: {points:,} (standard normal, {max(1, points // every):,} shifted stretches), seed {seed}")
    print(
        f"rules: Nelson 1–8, run lengths {rules.run_length}/{rules.trend_length}/"
        f"{rules.alternating_length}/{rules.within_length}/{rules.beyond_length}"
    )
    print(
        f"violations: {len(vectorised):,} ("
        + ", ".join(f"{r} {n:,}" for r, n in sorted(by_rule.items()))
        + ")"
    )
    print(f"vectorised (numpy):  {vector_s:8.3f} s   best of {repeat}")
    print(f"plain Python loop:   {loop_s:8.3f} s   best of {repeat}")
    print(f"ratio loop / vectorised: {loop_s / vector_s:.1f}x")
    print(f"whole I-MR chart (phase II, moving ranges + rules): {chart_s:.3f} s")
    print(f"identical violations: {'yes' if identical else 'NO'}")
    extra = "" if every == STRETCH_EVERY else f" --stretch-every {every}"
    print(f"command: .venv/bin/python -m bench.spc_rules --points {points}{extra}")
    assert identical, "the vectorised rules and the loop disagree"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--stretch-every", type=int, default=STRETCH_EVERY, help="Points per shifted stretch, on average."
    )
    args = parser.parse_args()
    main(args.points, args.repeat, args.seed, args.stretch_every)
