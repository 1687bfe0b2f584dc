"""A number in a recipe, profile or line file means what the engineer wrote.

Plain scalars are typed by the YAML 1.2 core schema; a form that a YAML 1.1
reader (PyYAML, and this loader before) reads as another number or as a boolean
is refused at its position with what to write instead (decision 011).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mes.config import load_settings
from mes.equipment.errors import ProfileError
from mes.equipment.line import load_line_for
from mes.equipment.profile import load_line, load_profile
from mes.yamldoc import DocumentRefused, parse_document
from tests.equipment.conftest import PROFILES, ROOT
from tests.recipes.helpers import line_of, load, set_value, text_of
from tests.test_config import GOOD_PRODUCTION

# (written, what the message must say): every YAML 1.1 reading that differs from YAML 1.2's
REFUSED = [
    ("010", "'010' has a leading zero: YAML 1.1 reads it as octal 8, YAML 1.2 as 10; write 10"),
    ("03700", "YAML 1.1 reads it as octal 1984, YAML 1.2 as 3700; write 3700"),
    ("-010", "YAML 1.1 reads it as octal -8, YAML 1.2 as -10; write -10"),
    ("09", "'09' has a leading zero: YAML 1.2 reads it as 9, YAML 1.1 as text; write 9"),
    ("0o17", "'0o17' is octal 15 to YAML 1.2 and text to YAML 1.1; write 15"),
    ("1:30", "'1:30' is the base-60 number 90 to YAML 1.1 and text to YAML 1.2; write 90"),
    ("1:30.5", "the base-60 number 90.5 to YAML 1.1"),
    ("0b101", "'0b101' is the binary number 5 to YAML 1.1 and text to YAML 1.2; write 5"),
    ("1_000", "'1_000' is the number 1000 (digit separators) to YAML 1.1 and text to YAML 1.2; write 1000"),
    ("1_000.5", "write 1000.5"),
    ("-0x1F", "'-0x1F' is the number -31 to YAML 1.1 and text to YAML 1.2; write -31"),
    ("on", "'on' is a boolean to YAML 1.1 and text to YAML 1.2; write true or false, or quote it ('on')"),
    ("Off", "'Off' is a boolean to YAML 1.1"),
    ("yes", "'yes' is a boolean to YAML 1.1"),
    ("NO", "'NO' is a boolean to YAML 1.1"),
]

# (written, the value read): the forms YAML 1.1 and 1.2 agree on, or where 1.1 reads only text
ACCEPTED: list[tuple[str, Any]] = [
    ("10", 10),
    ("-0", 0),
    ("0x1F", 31),
    ("1.5", 1.5),
    ("1.", 1.0),
    (".5", 0.5),
    ("1e3", 1000.0),
    ("1.5e3", 1500.0),
    ("true", True),
    ("False", False),
    ("~", None),
    ("null", None),
    ("", None),
    (".inf", math.inf),
    ("-.inf", -math.inf),
    ("y", "y"),
    ("2026-01-01", "2026-01-01"),
    ("'010'", "010"),
    ('"on"', "on"),
    ("!!str 1:30", "1:30"),
    ("!!float 1", 1.0),
    ("<<", "<<"),
]


@pytest.mark.parametrize(("written", "message"), REFUSED)
def test_yaml11_readings_are_refused_with_what_to_write(written: str, message: str) -> None:
    with pytest.raises(DocumentRefused) as info:
        parse_document(f"a:\n  b: {written}\n")
    assert info.value.position == (2, 6)
    assert info.value.loc == ("a", "b")
    assert message in info.value.message


@pytest.mark.parametrize(("written", "value"), ACCEPTED)
def test_core_schema_values(written: str, value: Any) -> None:
    read = parse_document(f"a: {written}\n")[0]["a"]
    assert read == value and type(read) is type(value)


@pytest.mark.parametrize(
    ("written", "message"),
    [("!!int 010", "leading zero"), ("!!bool yes", "is a boolean to YAML 1.1"), ("!!float 1:30", "base-60"),
     ("!!int abc", "cannot read 'abc' as int"), ("!!int 1.5", "cannot read '1.5' as int")],
)  # fmt: skip
def test_explicit_tags_follow_the_same_rules(written: str, message: str) -> None:
    with pytest.raises(DocumentRefused, match=message):
        parse_document(f"a: {written}\n")


def test_a_key_yaml11_reads_as_a_boolean_is_refused() -> None:
    with pytest.raises(DocumentRefused, match="'on' is a boolean") as info:
        parse_document("units:\n  on: 1\n")
    assert info.value.position == (2, 3)


def _recipe_with(key_loc: tuple[str | int, ...], value: str) -> tuple[str, int]:
    text = text_of("capped-si-anode.yaml")
    line = line_of(text, key_loc)
    return set_value(text, line, str(key_loc[-1]), value), line


def test_passes_010_is_refused_at_its_position_not_read_as_8() -> None:
    text, line = _recipe_with(("steps", 0, "setpoints", "passes"), "010")
    result = load(text)
    assert result.recipe is None  # it loaded with passes = 8 before
    column = text.splitlines()[line - 1].index("010") + 1
    [problem] = [i for i in result.issues if i.field != "(file)"]  # the other says nothing else ran
    assert str(problem) == (
        f"mutated.yaml:{line}:{column}: steps[0].setpoints.passes: '010' has a leading zero: YAML 1.1 "
        "reads it as octal 8, YAML 1.2 as 10; write 10 (or quote it if it is a name)"
    )


def test_lsl_03700_is_refused_not_widened_to_1984() -> None:
    text, line = _recipe_with(("steps", 0, "layer", "characteristics", 0, "lsl"), "03700")
    result = load(text)
    assert result.recipe is None  # it loaded with LSL 1984 nm before
    assert [(i.line, i.field) for i in result.issues if "octal 1984" in i.message] == [
        (line, "steps[0].layer.characteristics[0].lsl")
    ]


@pytest.mark.parametrize("written", ["1:30", "1_000", "0b101", "on"])
def test_other_yaml11_numbers_in_a_recipe_are_refused(written: str) -> None:
    text, line = _recipe_with(("steps", 0, "setpoints", "power_w"), written)
    result = load(text)
    assert result.recipe is None
    assert [i.line for i in result.issues if "to YAML 1.1" in i.message] == [line]


@pytest.mark.parametrize("escape", ["\\0", "\\e", "\\x07"])
def test_a_control_character_written_as_an_escape_is_refused_where_it_stands(escape: str) -> None:
    """The reader refuses a raw NUL; a double-quoted escape wrote one into the title, which PostgreSQL
    cannot store (an import failed inside the database instead of at the line)."""
    text = text_of("capped-si-anode.yaml")
    title_line = line_of(text, ("title",))
    lines = text.splitlines(keepends=True)
    lines[title_line - 1] = f'title: "Si anode{escape}with a cap"\n'
    result = load("".join(lines))
    assert result.recipe is None
    assert [(i.line, i.field) for i in result.issues] == [(title_line, "title")]
    assert "text is printable" in result.issues[0].message


def test_every_refused_value_of_a_file_is_reported_at_once() -> None:
    """Found by a new user: with `passes: 010` and `time_limit_s: 1:30` in one file, only the first was
    reported, followed by "the file could not be read as a YAML document"."""
    text = text_of("capped-si-anode.yaml")
    passes_line = line_of(text, ("steps", 0, "setpoints", "passes"))
    limit_line = line_of(text, ("steps", 1, "time_limit_s"))
    lsl_line = line_of(text, ("steps", 0, "layer", "characteristics", 0, "lsl"))
    text = set_value(text, passes_line, "passes", "010")
    text = set_value(text, limit_line, "time_limit_s", "1:30")
    text = set_value(text, lsl_line, "lsl", "03700")
    result = load(text)
    assert result.recipe is None
    # Expected: one issue per refused value, each at its own line, and no "could not be read" line.
    assert sorted((i.line, i.field) for i in result.issues if i.field != "(file)") == sorted(
        [
            (passes_line, "steps[0].setpoints.passes"),
            (limit_line, "steps[1].time_limit_s"),
            (lsl_line, "steps[0].layer.characteristics[0].lsl"),
        ]
    )
    assert not any("could not be read" in i.message for i in result.issues)


def test_a_yaml11_boolean_in_a_number_field_asks_for_a_number() -> None:
    text, line = _recipe_with(("steps", 0, "setpoints", "passes"), "on")
    [problem] = [i for i in load(text).issues if i.field != "(file)"]
    # Expected: a number asked for; it said "write true or false" for a count of passes.
    assert (problem.line, problem.field, problem.message) == (
        line,
        "steps[0].setpoints.passes",
        "'on' is a boolean to YAML 1.1 and text to YAML 1.2, and this field takes a number: write the number",
    )


def test_a_count_outside_its_limits_is_named_without_a_unit() -> None:
    text, line = _recipe_with(("steps", 0, "setpoints", "passes"), "-3")
    [problem] = [i for i in load(text).issues if i.field != "(file)"]
    # Expected: no unit after a count (it said "-3 1 is outside the sputter class limits 1–50 1": the
    # unit of a count is 1).
    assert (problem.line, problem.message) == (line, "-3 is outside the sputter class limits 1–50")


@pytest.mark.parametrize("written", ["true", "false"])
def test_a_boolean_is_not_taken_for_a_number(written: str) -> None:
    text, line = _recipe_with(("steps", 0, "setpoints", "passes"), written)
    result = load(text)
    assert result.recipe is None  # pydantic's lax mode read true as 1 pass before
    assert [(i.line, i.field, i.message) for i in result.issues if i.field != "(file)"] == [
        (line, "steps[0].setpoints.passes", f"{written} is a boolean, not a number; write the number")
    ]


@pytest.mark.parametrize("written", ["'1_0'", "'010'", "' 3 '", '"04"'])
def test_a_quoted_number_is_text_not_a_number(written: str) -> None:
    """Found by a new user: the README says to quote a value to keep it as text, yet `passes: '1_0'`
    validated and was stored as 10 passes (pydantic's lax mode turns text into numbers)."""
    text, line = _recipe_with(("steps", 0, "setpoints", "passes"), written)
    result = load(text)
    assert result.recipe is None
    assert [(i.line, i.field) for i in result.issues if "is quoted, so it is text" in i.message] == [
        (line, "steps[0].setpoints.passes")
    ]


@pytest.mark.parametrize("written", [".nan", ".inf", "-.inf", "1e999"])
def test_non_finite_numbers_are_refused_by_the_schema(written: str) -> None:
    text, line = _recipe_with(("steps", 0, "layer", "characteristics", 0, "lsl"), written)
    result = load(text)
    assert [i.message for i in result.issues if i.line == line] == ["Input should be a finite number"]


def test_a_profile_limit_with_a_leading_zero_is_refused(tmp_path: Path) -> None:
    text = (PROFILES / "packml-sputter.yaml").read_text()
    assert "min: 10, max: 6000}" in text
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("min: 10, max: 6000}", "min: 10, max: 06000}", 1))
    # before: max 3072 W, silently narrower than the machine
    with pytest.raises(ProfileError, match=r"setpoints.power_w.max: '06000' has a leading zero.*write 6000"):
        load_profile(path)


def test_a_line_file_reads_by_the_same_rules(tmp_path: Path) -> None:
    path = tmp_path / "line.yaml"
    path.write_text((ROOT / "deploy" / "line.yaml").read_text().replace("line: electrode-line-1", "line: on"))
    with pytest.raises(ProfileError, match=rf"{path}:4:7: line: 'on' is a boolean to YAML 1.1"):
        load_line(path)


def test_the_production_check_reads_the_line_file_by_the_same_rules(tmp_path: Path) -> None:
    line = tmp_path / "line.yaml"
    line.write_text("units:\n  - name: 010\n    security: {policy: Basic256Sha256, mode: SignAndEncrypt}\n")
    # before: a unit named "8" was judged by a reader of its own; now production judges the line as loaded
    with pytest.raises(ProfileError, match=rf"{line}:2:11: units\[0\].name: '010' has a leading"):
        load_line_for(load_settings(**GOOD_PRODUCTION, line_config=line))


SCALARS = st.text(alphabet="0123456789+-._:eEoxbBaf nNyYtTrsul~", max_size=12)


@pytest.mark.parametrize("written", ["0b_", "0x_", "._", "-0b__"])
def test_a_yaml11_number_pattern_with_no_digits_is_text_not_a_crash(written: str) -> None:
    """Found by the property below: PyYAML's YAML 1.1 int pattern takes '0b_' and then fails to make a
    number of it (ValueError out of the loader); both readings are text, so it is read as text."""
    assert parse_document(f"a: {written}\n")[0] == {"a": written}


@settings(max_examples=2_000, deadline=None)
@given(SCALARS)
def test_an_accepted_plain_scalar_never_means_another_number_to_yaml11(text: str) -> None:
    """Whatever this loader reads, a YAML 1.1 reader reads the same, or text (never another value)."""
    document = f"a: {text}\n"
    try:
        ours = parse_document(document)[0]
    except DocumentRefused:
        return
    try:
        theirs = yaml.safe_load(document)
    except yaml.YAMLError:
        return  # not a plain scalar in a mapping for either reader
    except ValueError:
        return  # PyYAML matched a number it cannot make ('0b_'): no YAML 1.1 meaning to differ from
    if not isinstance(ours, dict) or not isinstance(theirs, dict) or "a" not in theirs:
        return
    mine, old = ours["a"], theirs["a"]
    if isinstance(old, str):
        return  # YAML 1.1 reads text: no number field takes it for another number
    assert type(mine) is type(old), (text, mine, old)
    assert mine == old or (isinstance(mine, float) and math.isnan(mine) and math.isnan(old)), (
        text,
        mine,
        old,
    )
