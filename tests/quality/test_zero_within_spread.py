"""Zero spread within subgroups is not "no variation": say what can be computed and why the rest cannot.

Values 4000, 4000, 4010, 4010 in subgroups of 2 against 3800–4200: within σ = 0,
overall σ = s(4000, 4000, 4010, 4010) = √(100/3) = 5.7735, mean 4005, so
Pp = 400 / (6 · 5.7735) = 11.547 and Ppk = min(4200 − 4005, 4005 − 3800) / (3 · 5.7735) = 11.258.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mes.quality import capability as cap
from mes.quality import spc
from mes.quality.errors import SpcError
from tests.quality.test_spc_cli import run

VALUES = [4000.0, 4000.0, 4010.0, 4010.0]


def test_capability_gives_pp_ppk_when_only_the_within_spread_is_zero() -> None:
    result = cap.capability(VALUES, lsl=3800, usl=4200, subgroup_size=2)
    assert result.sigma_within == 0.0
    assert result.pp == pytest.approx(11.547, abs=5e-4)
    assert result.ppk == pytest.approx(11.258, abs=5e-4)
    assert result.cp is None and result.cpk is None
    assert result.within_note is not None
    assert result.within_note.startswith(
        "not computable (within σ = 0): the values within each subgroup of 2"
    )
    assert "subgroup means differ (4000 to 4010)" in result.within_note
    data = result.to_dict()
    assert (data["cp"], data["cpk"], data["within_note"]) == (None, None, result.within_note)


@pytest.mark.parametrize("within", ["range", "s", "auto"])
def test_every_within_method_sees_zero_within_spread(within: str) -> None:
    # S of identical values is 1e-13 in floating point, not 0: Cp came out as 1.3e14 with ``s``.
    values = [4000.1] * 7 + [4000.2] * 7
    result = cap.capability(values, lsl=3800, usl=4200, subgroup_size=7, within=within)  # type: ignore[arg-type]
    assert result.cp is None and result.cpk is None and result.sigma_within == 0.0
    assert result.pp == pytest.approx(400 / (6 * result.sigma_overall))


@pytest.mark.parametrize(("size", "within"), [(1, "auto"), (2, "range"), (7, "s")])
def test_capability_is_refused_only_when_the_values_do_not_vary(size: int, within: str) -> None:
    with pytest.raises(SpcError, match=r"the data do not vary \(every value is 4000.1\)"):
        cap.capability([4000.1] * 14, lsl=3800, usl=4200, subgroup_size=size, within=within)  # type: ignore[arg-type]


def test_the_capability_command_prints_pp_ppk_and_the_cause(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "ab.csv"
    path.write_text("\n".join(str(v) for v in VALUES) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "spc", "capability", "--input", str(path), "--lsl", "3800", "--usl", "4200",
                       "--subgroup-size", "2")  # fmt: skip
    assert code == 0  # before: "the data do not vary (the within σ is 0)", exit 1
    assert "Cp not computable  Cpk not computable  Pp 11.547  Ppk 11.2583" in out
    assert "Cp, Cpk not computable (within σ = 0): the values within each subgroup of 2 are identical" in out


def test_the_capability_read_model_carries_the_cause(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The read model that `--json`, the lot report and the API print takes every field of the result
    (it refused ``within_note`` and a None Cpk: `mes lot report` ended in an internal error)."""
    from mes.quality.schemas import capability_public

    result = cap.capability(VALUES, lsl=3800, usl=4200, subgroup_size=2)
    public = capability_public(result)
    assert (public.cp, public.cpk, public.within_note) == (None, None, result.within_note)
    path = tmp_path / "ab.csv"
    path.write_text("\n".join(str(v) for v in VALUES) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "spc", "capability", "--input", str(path), "--lsl", "3800", "--usl", "4200",
                       "--subgroup-size", "2", "--json")  # fmt: skip
    assert code == 0
    printed = json.loads(out)
    assert (printed["cp"], printed["cpk"]) == (None, None)
    assert printed["within_note"].startswith("not computable (within σ = 0)")


@pytest.mark.parametrize("chart", [spc.xbar_r, spc.xbar_s])
def test_xbar_charts_name_zero_within_spread_instead_of_no_variation(chart: object) -> None:
    assert callable(chart)
    with pytest.raises(SpcError) as info:
        chart([[4000.0, 4000.0], [4010.0, 4010.0]])
    message = str(info.value)
    assert "do not vary" not in message  # they do: by 10 between subgroups
    assert "the values within each subgroup of 2 are identical (mean subgroup range 0)" in message
    assert "subgroup means differ (4000 to 4010)" in message
    assert "chart the subgroup means as individuals (imr)" in message


def test_an_xbar_s_chart_of_one_repeated_value_is_refused_not_drawn_with_1e_13_limits() -> None:
    with pytest.raises(SpcError, match="do not vary"):
        spc.xbar_s([[4000.1] * 7] * 3)


def test_individuals_charts_refuse_only_data_that_do_not_vary() -> None:
    # A moving range of 0 throughout means every value is the same: there the claim is right.
    for build in (spc.imr, spc.ewma):
        with pytest.raises(SpcError, match="do not vary"):
            build([4000.1] * 10)
    assert spc.imr([4000.0, 4000.0, 4010.0, 4010.0], rules=None).sigma > 0
