"""Line mutations of YAML documents, shared by the fuzz tests of the recipe and profile loaders."""

from __future__ import annotations

from hypothesis import strategies as st

YAMLISH = st.sampled_from(
    ["", " ", ":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!str ", "!!binary ", "'", '"', "#", "\t", "\n",
     "null", "~", ".nan", "-.inf", "1e999", "0x1F", "yes", "2026-01-01", "? ", "|", ">", "<<: ", "%YAML 1.1\n---\n",
     "010", "1:30", "0b101", "0o17", "1_000", "on", "true", "!!int "]
)  # fmt: skip
COMMON = ("delete", "duplicate", "swap", "char", "insert")


def mutate(draw: st.DrawFn, lines: list[str], i: int, action: str) -> None:
    """Apply one of the :data:`COMMON` mutations to ``lines`` at line ``i``, in place."""
    if action == "delete":
        del lines[i]
    elif action == "duplicate":
        lines.insert(i, lines[i])
    elif action == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif action == "char" and lines[i]:
        k = draw(st.integers(0, len(lines[i]) - 1))
        lines[i] = lines[i][:k] + draw(st.characters()) + lines[i][k + 1 :]
    elif action == "insert":
        k = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:k] + draw(YAMLISH) + lines[i][k:]
