"""Recipe files: YAML text → validated :class:`~mes.recipes.schema.Recipe`.

Every problem is reported as ``PATH:LINE:COL: field.path: message``, all of them
at once. YAML is composed into nodes first so that each value keeps its line and
column; anchors, aliases and deep nesting are refused, so no input can make the
loader blow up or hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.constructor import SafeConstructor

from mes.equipment.classes import setpoint_limits
from mes.equipment.models import EquipmentClass
from mes.recipes.checks import semantic_issues
from mes.recipes.errors import Issue, Loc, field_path
from mes.recipes.schema import Recipe

MAX_BYTES = 1_048_576
MAX_DEPTH = 40
Position = tuple[int, int]
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class _Refused(Exception):
    def __init__(self, position: Position, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.position, self.loc, self.message = position, loc, message


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a document stands in its file."""

    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)

    def locate(self, loc: Loc, *, key: bool = False) -> Position:
        if key and loc in self.keys:
            return self.keys[loc]
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.values:
                return self.values[loc[:end]]
        return (1, 1)


def _pos(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self) -> None:
        self.source = SourceMap()
        self._seen: set[int] = set()
        self._scalars = SafeConstructor()

    def build(self, node: yaml.Node, loc: Loc = ()) -> Any:
        if id(node) in self._seen:
            raise _Refused(_pos(node), loc, "anchors and aliases are not allowed in recipes")
        self._seen.add(id(node))
        if len(loc) > MAX_DEPTH:
            raise _Refused(_pos(node), loc, f"nested deeper than {MAX_DEPTH} levels")
        self.source.values[loc] = _pos(node)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
            raise _Refused(_pos(node), loc, f"tag {node.tag!r} is not allowed in recipes")
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Refused(_pos(key_node), loc, "mapping keys must be plain words")
                key = self._scalar(key_node, loc)
                if not isinstance(key, str | int):
                    key = str(key)
                if key in result:
                    raise _Refused(_pos(key_node), (*loc, key), f"duplicate key {key!r}")
                self.source.keys[(*loc, key)] = _pos(key_node)
                result[key] = self.build(value_node, (*loc, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, loc)

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        try:
            return self._scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _Refused(_pos(node), loc, f"cannot read this value ({node.tag}): {reason}") from exc


def parse_document(text: str) -> tuple[Any, SourceMap]:
    """Parse YAML into plain data plus a :class:`SourceMap`; raises ``_Refused``."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise _Refused(position, (), f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise _Refused((1, 1), (), f"not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise _Refused((1, 1), (), f"nested deeper than {MAX_DEPTH} levels") from exc
    if len(nodes) > 1:
        raise _Refused(_pos(nodes[1]), (), "a recipe file holds one YAML document")
    if not nodes or nodes[0] is None:
        raise _Refused((1, 1), (), "the file is empty; a recipe is a mapping with id, version, steps, …")
    builder = _Builder()
    data = builder.build(nodes[0])
    return data, builder.source


def _data_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """A pydantic error location in terms of the document (union tags removed)."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif i < len(loc) - 1:
            continue  # a discriminated-union tag such as 'sputter'
        else:
            current = None
        out.append(part)
    return tuple(out)


def _message(error: ErrorDetails, loc: Loc, data: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys to values, got {type(error.get('input')).__name__}"
    if kind in ("greater_than_equal", "less_than_equal") and "setpoints" in loc:
        steps = data.get("steps") if isinstance(data, dict) else None
        step = steps[loc[1]] if isinstance(steps, list) and isinstance(loc[1], int) else None
        cls = step.get("equipment_class") if isinstance(step, dict) else None
        if cls in set(EquipmentClass) and isinstance(loc[-1], str):
            limits = setpoint_limits(EquipmentClass(cls), loc[-1])
            if limits:
                low, high, unit = limits
                return (
                    f"{error.get('input')!r} {unit} is outside the {cls} class limits {low:g}–{high:g} {unit}"
                )
    return str(error["msg"]).removeprefix("Value error, ")


@dataclass
class LoadResult:
    path: str
    recipe: Recipe | None
    issues: list[Issue]

    @property
    def ok(self) -> bool:
        return not self.issues


def load_recipe_text(text: str | bytes, path: str = "<recipe>") -> LoadResult:
    """Validate recipe ``text``; never raises for bad input, returns every issue found."""

    def issue(position: Position, loc: Loc, message: str) -> Issue:
        return Issue(path, position[0], position[1], field_path(loc), message)

    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            return LoadResult(path, None, [issue((1, 1), (), f"file is larger than {MAX_BYTES} bytes")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return LoadResult(path, None, [issue((1, 1), (), f"not UTF-8 text (byte {exc.start})")])
    if len(text) > MAX_BYTES:
        return LoadResult(path, None, [issue((1, 1), (), f"file is larger than {MAX_BYTES} bytes")])
    try:
        data, source = parse_document(text)
    except _Refused as refused:
        return LoadResult(path, None, [issue(refused.position, refused.loc, refused.message)])
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = _data_loc(error["loc"], data)
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = (*loc, "equipment_class")
            position = source.locate(loc, key=error["type"] == "extra_forbidden")
            issues.append(issue(position, loc, _message(error, loc, data)))
        return LoadResult(path, None, sorted(set(issues)))
    issues = [issue(source.locate(loc), loc, message) for loc, message in semantic_issues(recipe)]
    return LoadResult(path, recipe if not issues else None, sorted(set(issues)))


def load_recipe_file(path: Path) -> LoadResult:
    """Read and validate one recipe file; unreadable files are an issue, not an exception."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return LoadResult(str(path), None, [Issue(str(path), 1, 1, "(file)", f"cannot read: {exc.strerror}")])
    return load_recipe_text(raw, str(path))
