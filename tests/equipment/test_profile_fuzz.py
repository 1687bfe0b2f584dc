"""No input makes the profile loader raise anything but a ProfileError with positions, or hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mes.equipment.errors import ProfileError
from mes.equipment.profile import Profile, _profile_checks, load_profile
from mes.yamldoc import validate_document
from tests.equipment.conftest import PROFILES
from tests.yaml_mutations import COMMON, mutate

SHIPPED_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(PROFILES.glob("*.yaml"))]
FUZZ = settings(max_examples=300, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])
NUMBERS = st.sampled_from(["-5", "4294967296", "99999999999999999999", "1e999", ".nan", "0", "65536", "-1"])


@st.composite
def mutated_profile(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SHIPPED_TEXTS)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from([*COMMON, "number", "node"]))
        if action in COMMON:
            mutate(draw, lines, i, action)
        elif action == "number":
            for key in ("min: ", "max: ", "scale: ", "lanes: "):
                if key in lines[i]:
                    head, _, tail = lines[i].partition(key)
                    rest = tail.split(",", 1)[1] if "," in tail else "}\n"
                    lines[i] = f"{head}{key}{draw(NUMBERS)},{rest}"
                    break
        elif "node: s=" in lines[i]:
            lines[i] = lines[i].replace("node: s=", f"node: i={draw(NUMBERS).lstrip('-')}  # ", 1)
    return "".join(lines)


def _loads_or_says_where(text: str) -> None:
    """The loader's contract: a profile, or every problem at a position inside the text."""
    profile, issues = validate_document(text, "fuzz.yaml", Profile, semantic=_profile_checks)
    assert (profile is None) == bool(issues)
    for issue in issues:
        assert 1 <= issue.line <= text.count("\n") + 2, issue
        assert issue.column >= 1
        assert issue.message
        assert str(issue).startswith(f"fuzz.yaml:{issue.line}:{issue.column}: ")


@FUZZ
@given(mutated_profile())
def test_mutated_profiles(text: str) -> None:
    _loads_or_says_where(text)


@FUZZ
@given(st.text(max_size=1_000))
def test_arbitrary_text(text: str) -> None:
    _loads_or_says_where(text)


def test_a_broken_file_is_one_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(SHIPPED_TEXTS[0].replace("data_type: Int32", "data_type: Int33", 1))
    with pytest.raises(ProfileError, match=rf"{path}:\d+:\d+: .*data_type"):
        load_profile(path)
