"""``mes spc chart`` and ``mes spc capability``: control charts and capability of a CSV column.

The input is one column of values in time order; consecutive values form the
subgroups of X̄ charts. Blank lines are skipped and the first non-blank line may
be a header (anything that is not a number). A file with more than one column is
refused rather than guessed at (charting an index or time column by mistake
looks plausible), and so is a trailing partial subgroup (dropping measurements
silently would hide them). Every problem is an :class:`SpcError` naming the file
and, where there is one, the line.
"""

from __future__ import annotations

import csv
import math
from enum import StrEnum
from pathlib import Path

import typer

from mes.cli.common import AsJson, finite, out, print_json
from mes.cli.tables import Column, print_table, text
from mes.quality import capability as cap
from mes.quality import spc
from mes.quality.errors import SpcError, SpcInvalid
from mes.quality.schemas import capability_public, chart_public

app = typer.Typer(help="Statistical process control: control charts and capability.", no_args_is_help=True)


class ChartType(StrEnum):
    imr = "imr"
    xbar_r = "xbar-r"
    xbar_s = "xbar-s"
    ewma = "ewma"


class RulesName(StrEnum):
    nelson = "nelson"
    western_electric = "western-electric"
    none = "none"


class WithinMethod(StrEnum):
    auto = "auto"
    range = "range"
    s = "s"


InputFile = typer.Option(..., "--input", help="CSV file: one column of values in time order.")


def read_values(path: Path) -> list[float]:
    """The values of a one-column CSV file, in file order."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpcError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpcError(f"{path}: is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise SpcError(f"{path}: not a text file (UTF-8 expected)") from None
    except OSError as exc:
        raise SpcError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    values: list[float] = []
    first = True
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line]))
        except csv.Error as exc:
            raise SpcError(f"{path}, line {number}: {exc}") from None
        if len(fields) != 1:
            raise SpcError(
                f"{path}, line {number}: {len(fields)} columns; the file must have one column of values "
                "(with a decimal point, not a comma)"
            )
        cell = fields[0].strip()
        try:
            value = float(cell)
        except ValueError:
            if first:  # a header
                first = False
                continue
            raise SpcError(f"{path}, line {number}: {cell!r} is not a number") from None
        first = False
        if not math.isfinite(value):
            raise SpcError(f"{path}, line {number}: {cell!r} is not a finite number")
        values.append(value)
    if not values:
        raise SpcError(f"{path}: no values (the file is empty or has only a header)")
    return values


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _violations_table(violations: tuple[spc.Violation, ...], what: str) -> None:
    if not violations:
        out.print(f"{what}: no violations")
        return
    columns = [Column("index", justify="right"), Column("rule"), text("meaning"), Column("points")]
    rows = [
        [
            str(v.index),
            v.rule,
            spc.RULE_TEXT.get(v.rule, ""),
            f"{v.points[0]}–{v.points[-1]}" if len(v.points) > 1 else str(v.points[0]),
        ]
        for v in violations
    ]
    print_table(columns, rows, title=f"{what}: {len(violations)} violation(s)")


def _print_shewhart(path: Path, chart: spc.ControlChart) -> None:
    unit = "points" if chart.subgroup_size == 1 else f"subgroups of {chart.subgroup_size}"
    out.print(f"{chart.chart} chart of {path}: {chart.values.size} {unit}, phase {chart.phase}")
    out.print(
        f"center {_fmt(chart.center)}  UCL {_fmt(chart.ucl)}  LCL {_fmt(chart.lcl)}  σ {_fmt(chart.sigma)}"
    )
    s = chart.spread
    out.print(f"{s.name} chart: center {_fmt(s.center)}  UCL {_fmt(s.ucl)}  LCL {_fmt(s.lcl)}")
    rules = f"{chart.rules.family} rules (run length {chart.rules.run_length})" if chart.rules else "no rules"
    _violations_table(chart.violations, rules)
    _violations_table(s.violations, f"{s.name} chart")


def _print_ewma(path: Path, chart: spc.EwmaChart) -> None:
    out.print(f"ewma chart of {path}: {chart.values.size} points, λ {chart.lam:g}, L {chart.L:g}")
    out.print(
        f"target {_fmt(chart.center)}  σ {_fmt(chart.sigma)}  steady-state UCL {_fmt(chart.ucl)}  "
        f"LCL {_fmt(chart.lcl)}"
    )
    _violations_table(chart.violations, "ewma limits")


@app.command("chart")
def chart(
    chart_type: ChartType = typer.Option(..., "--type", help="imr, xbar-r, xbar-s or ewma."),
    input_path: Path = InputFile,
    subgroup_size: int | None = typer.Option(
        None, "--subgroup-size", help="Values per subgroup (2–25); X̄ charts only."
    ),
    lam: float | None = typer.Option(
        None, "--lambda", callback=finite, help="EWMA weight λ in (0, 1] (default 0.2)."
    ),
    width: float | None = typer.Option(
        None, "--width", callback=finite, help="EWMA limit width L in σ (default 3)."
    ),
    target: float | None = typer.Option(
        None, "--target", callback=finite, help="EWMA target (default: the mean)."
    ),
    sigma: float | None = typer.Option(
        None, "--sigma", callback=finite, help="EWMA σ of single values (default: MR̄/d2)."
    ),
    rules: RulesName | None = typer.Option(
        None, "--rules", help="nelson (default), western-electric or none; not for ewma."
    ),
    run_length: int | None = typer.Option(
        None, "--run-length", help="Points in a row on one side that signal (Nelson 9, WE 8)."
    ),
    as_json: bool = AsJson,
) -> None:
    """Control chart of a CSV column: limits, points and rule violations."""
    kind = chart_type.value
    if kind == "ewma":
        if rules not in (None, RulesName.none) or run_length is not None:
            raise SpcInvalid("an EWMA chart signals on its own limits only: drop --rules and --run-length")
        if subgroup_size not in (None, 1):
            raise SpcInvalid("the EWMA chart here is of single values: drop --subgroup-size")
    else:
        given = [
            name
            for name, v in (("--lambda", lam), ("--width", width), ("--target", target), ("--sigma", sigma))
            if v is not None
        ]
        if given:
            raise SpcInvalid(f"{', '.join(given)}: for --type ewma only")
        if kind == "imr" and subgroup_size not in (None, 1):
            raise SpcInvalid("an I-MR chart is of single values: drop --subgroup-size (or use --type xbar-r)")
        if kind != "imr" and subgroup_size is None:
            raise SpcInvalid(f"--type {kind} needs --subgroup-size (2–25)")
    values = read_values(input_path)
    result: spc.ControlChart | spc.EwmaChart
    try:
        if kind == "ewma":
            result = spc.ewma(
                values,
                lam=0.2 if lam is None else lam,
                L=3.0 if width is None else width,
                target=target,
                sigma=sigma,
            )
        else:
            ruleset = "nelson" if rules is None else rules.value
            if kind == "imr":
                result = spc.imr(values, rules=ruleset, run_length=run_length)
            else:
                assert subgroup_size is not None  # noqa: S101 - checked above
                groups = spc.subgroups(values, subgroup_size)
                build = spc.xbar_r if kind == "xbar-r" else spc.xbar_s
                result = build(groups, rules=ruleset, run_length=run_length)
    except SpcError as exc:
        raise type(exc)(f"{input_path}: {exc}") from None  # a parameter's error stays one (exit 2)
    if as_json:
        print_json(chart_public(result))
    elif isinstance(result, spc.EwmaChart):
        _print_ewma(input_path, result)
    else:
        _print_shewhart(input_path, result)


@app.command("capability")
def capability(
    input_path: Path = InputFile,
    lsl: float | None = typer.Option(None, "--lsl", callback=finite, help="Lower spec limit."),
    usl: float | None = typer.Option(None, "--usl", callback=finite, help="Upper spec limit."),
    subgroup_size: int = typer.Option(1, "--subgroup-size", help="Values per subgroup (1 = individuals)."),
    within: WithinMethod = typer.Option(
        WithinMethod.auto,
        "--within",
        help="Within σ of subgroups: range (R̄/d2), s (S̄/c4) or auto (range up to 10, s above).",
    ),
    as_json: bool = AsJson,
) -> None:
    """Cp, Cpk (within σ) and Pp, Ppk (overall σ) of a CSV column against LSL and/or USL."""
    values = read_values(input_path)
    try:
        result = cap.capability(values, lsl=lsl, usl=usl, subgroup_size=subgroup_size, within=within.value)
    except SpcError as exc:
        raise type(exc)(f"{input_path}: {exc}") from None  # a parameter's error stays one (exit 2)
    if as_json:
        print_json(capability_public(result))
        return
    out.print(f"capability of {input_path}: n {result.n}, mean {_fmt(result.mean)}")
    within_text = f"σ within {_fmt(result.sigma_within)} ({result.within_method})"
    out.print(f"{within_text}, σ overall {_fmt(result.sigma_overall)}")
    cp, cpk = (
        ("not computable", "not computable") if result.within_note else (_fmt(result.cp), _fmt(result.cpk))
    )
    out.print(f"Cp {cp}  Cpk {cpk}  Pp {_fmt(result.pp)}  Ppk {_fmt(result.ppk)}")
    if result.within_note:
        out.print(f"Cp, Cpk {result.within_note}")
    if result.warning:
        out.print(f"warning: {result.warning}")
