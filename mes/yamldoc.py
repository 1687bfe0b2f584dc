"""YAML documents that keep their positions: every problem lands on ``PATH:LINE:COL``.

Recipes, equipment profiles and line files are all read this way. YAML is
composed into nodes (never constructed as Python objects), so each value keeps
its line and column; anchors and aliases, non-standard tags, duplicate keys,
non-scalar keys, nesting deeper than ``MAX_DEPTH`` and files over ``MAX_BYTES``
are refused, so no input can make a loader blow up or hang.

Plain scalars are typed by the YAML 1.2 core schema, and a plain scalar that a
YAML 1.1 reader (PyYAML, and this loader before) takes for another number or
for a boolean is refused with what to write instead: ``010``, ``1:30``,
``0b101``, ``0o17``, ``1_000``, ``on``/``off``/``yes``/``no``. See
``docs/decisions/011-yaml-numbers.md``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.constructor import SafeConstructor

from mes.yaml_core import CORE_TAGS, TRAP, CoreLoader, core_scalar, yaml11_boolean

MAX_BYTES = 1_048_576
MAX_DEPTH = 40
Loc = tuple[str | int, ...]
Position = tuple[int, int]
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, order=True)
class Issue:
    """One problem in a file, at ``path:line:column`` (1-based), on a field path."""

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.field}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def field_path(loc: Loc) -> str:
    """``('steps', 0, 'layer', 'name')`` → ``steps[0].layer.name``; the root is ``(recipe)``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(recipe)"


class DocumentRefused(Exception):
    """The text is not a document we read; carries where and why, and the plain scalar refused, if
    that is what was refused (``scalar``)."""

    def __init__(self, position: Position, loc: Loc, message: str, scalar: str | None = None) -> None:
        super().__init__(message)
        self.position, self.loc, self.message, self.scalar = position, loc, message, scalar


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
        # Plain values refused by the YAML 1.2 rules (`010`, `1:30`, `on`…): each one is reported, and
        # the document is read on with the value as its text, so one refusal hides no other problem.
        self.refused: list[tuple[Position, Loc, str]] = []

    def build(self, node: yaml.Node, loc: Loc = ()) -> Any:
        if id(node) in self._seen:
            raise DocumentRefused(_pos(node), loc, "anchors and aliases are not allowed here")
        self._seen.add(id(node))
        if len(loc) > MAX_DEPTH:
            raise DocumentRefused(_pos(node), loc, f"nested deeper than {MAX_DEPTH} levels")
        self.source.values[loc] = _pos(node)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
            raise DocumentRefused(_pos(node), loc, f"tag {node.tag!r} is not allowed here")
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise DocumentRefused(_pos(key_node), loc, "mapping keys must be plain words")
                key = self._scalar(key_node, loc)
                if not isinstance(key, str | int):
                    key = str(key)
                if key in result:
                    raise DocumentRefused(_pos(key_node), (*loc, key), f"duplicate key {key!r}")
                self.source.keys[(*loc, key)] = _pos(key_node)
                result[key] = self.build(value_node, (*loc, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, loc)

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        if node.tag == TRAP or node.tag in CORE_TAGS:
            # Plain scalars, and explicit !!int / !!float / !!bool / !!null, by YAML 1.2 rules only.
            try:
                return core_scalar(node.tag, str(node.value))
            except ValueError as exc:
                self.refused.append((_pos(node), loc, str(exc)))
                return str(node.value)
        try:
            value = self._scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DocumentRefused(_pos(node), loc, f"cannot read this value ({node.tag}): {reason}") from exc
        if isinstance(value, str):
            # A quoted escape ("\0", "\e") can write what the reader refuses raw; no text we keep holds it
            # (PostgreSQL cannot store a NUL at all).
            bad = next((c for c in value if unicodedata.category(c) == "Cc" and c not in "\t\n\r"), None)
            if bad is not None:
                what = f"U+{ord(bad):04X} ({unicodedata.name(bad, 'a control character')})"
                self.refused.append((_pos(node), loc, f"contains {what}; text is printable"))
        return value


def parse_document(text: str) -> tuple[Any, SourceMap]:
    """Parse YAML into plain data plus a :class:`SourceMap`; raises :class:`DocumentRefused` (naming the
    first refused value; ``validate_document`` reports every one)."""
    data, source, refused = _read(text)
    if refused:
        raise DocumentRefused(*refused[0])
    return data, source


def _read(text: str) -> tuple[Any, SourceMap, list[tuple[Position, Loc, str]]]:
    """The document, where each value stands, and the plain values refused (left as their text)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=CoreLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise DocumentRefused(position, (), f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise DocumentRefused((1, 1), (), f"not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise DocumentRefused((1, 1), (), f"nested deeper than {MAX_DEPTH} levels") from exc
    if len(nodes) > 1:
        raise DocumentRefused(_pos(nodes[1]), (), "a file holds one YAML document")
    if not nodes or nodes[0] is None:
        raise DocumentRefused((1, 1), (), "the file is empty")
    builder = _Builder()
    data = builder.build(nodes[0])
    return data, builder.source, builder.refused


def data_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """A pydantic error location in terms of the document (discriminated-union tags removed)."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif i < len(loc) - 1:
            continue  # a union tag such as 'sputter'
        else:
            current = None
        out.append(part)
    return tuple(out)


_BOUNDS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"})
_NOT_A_NUMBER = frozenset({"int_parsing", "float_parsing", "int_type", "float_type"})


def _boolean_where_a_number_is(scalar: str) -> str:
    """A YAML 1.1 boolean (``on``, ``no``) in a number field asks for the number ("write true or
    false" is no advice for a count of passes)."""
    return (
        f"{scalar!r} is a boolean to YAML 1.1 and text to YAML 1.2, and this field takes a number: "
        "write the number"
    )


def default_message(error: ErrorDetails, loc: Loc) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys to values, got {type(error.get('input')).__name__}"
    return str(error["msg"]).removeprefix("Value error, ")


MessageHook = Callable[[ErrorDetails, Loc, Any], str | None]
SemanticCheck = Callable[[Any], Iterable[tuple[Loc, str]]]
NOT_READ = "later checks did not run because the file could not be read as a YAML document"


def _without(data: Any, locs: list[Loc]) -> Any:
    """A copy of ``data`` without the mapping keys at ``locs``."""
    if not locs:
        return data
    if isinstance(data, dict):
        return {
            k: _without(v, [loc[1:] for loc in locs if loc[:1] == (k,) and len(loc) > 1])
            for k, v in data.items()
            if (k,) not in locs
        }
    if isinstance(data, list):
        return [_without(v, [loc[1:] for loc in locs if loc[:1] == (i,)]) for i, v in enumerate(data)]
    return data


def _boolean_message(value: Any) -> str:
    return f"{'true' if value else 'false'} is a boolean, not a number; write the number"


def _text_message(text: str) -> str:
    return f"{text!r} is quoted, so it is text, not a number; write the number without quotes"


def _leaves(data: Any, loc: Loc = ()) -> Iterable[tuple[Loc, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*loc, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _leaves(value, (*loc, i))
    else:
        yield loc, data


def _taken_as_numbers(data: Any, instance: BaseModel) -> Iterable[tuple[Loc, str]]:
    """Where the document says true/false or quoted text and the model holds a number: pydantic's lax
    mode reads true as 1 and '0400' as 400, a meaning the engineer did not write."""
    for loc, raw in _leaves(data):
        if not isinstance(raw, bool | str):
            continue
        value: Any = instance
        for part in loc:
            if isinstance(value, BaseModel) and isinstance(part, str):
                value = getattr(value, part, None)
            elif isinstance(value, dict | list):
                try:
                    value = value[part]  # type: ignore[index]
                except (KeyError, IndexError, TypeError):
                    value = None
            else:
                value = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield loc, _boolean_message(raw) if isinstance(raw, bool) else _text_message(raw)


def validate_document(
    text: str | bytes,
    path: str,
    model: type[M],
    *,
    semantic: Callable[[M], Iterable[tuple[Loc, str]]] | None = None,
    message_hook: MessageHook | None = None,
    parts: SemanticCheck | None = None,
    whole_checks: str = "",
) -> tuple[M | None, list[Issue]]:
    """Validate ``text`` as ``model``; never raises for bad input, returns every issue found.

    The stages: the text is read as YAML, its structure validated as ``model``,
    its meaning checked by ``semantic``. Every stage that can run does. Unknown
    keys are reported and set aside, so a typo hides no later check; when the
    structure is still invalid, ``parts`` checks each piece of the raw data that
    is valid on its own, and an issue says that ``whole_checks`` (the checks that
    need the whole document) did not run, and why. A stage that cannot run at all
    (the text is not a YAML document) is said so too.
    """

    def issue(position: Position, loc: Loc, message: str) -> Issue:
        return Issue(path, position[0], position[1], field_path(loc), message)

    def refused(message: str, position: Position = (1, 1), loc: Loc = ()) -> tuple[None, list[Issue]]:
        return None, sorted([issue(position, loc, message), Issue(path, 1, 1, "(file)", NOT_READ)])

    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            return refused(f"file is larger than {MAX_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return refused(f"not UTF-8 text (byte {exc.start})")
    if len(text) > MAX_BYTES:
        return refused(f"file is larger than {MAX_BYTES} bytes")
    try:
        data, source, refused_values = _read(text)
    except DocumentRefused as exc:
        return refused(exc.message, exc.position, exc.loc)
    # A refused value stays in the data as its text: its own issue says what to write, and the
    # model's complaint about the same place (a text where a number belongs) would only repeat it.
    refused_at = {loc: (position, message) for position, loc, message in refused_values}
    refused_locs = set(refused_at)

    def located(found: Iterable[tuple[Loc, str]]) -> set[Issue]:
        return {issue(source.locate(loc), loc, msg) for loc, msg in found}

    instance: M | None = None
    issues: set[Issue] = {issue(position, loc, message) for position, loc, message in refused_values}
    try:
        instance = model.model_validate(data)
    except ValidationError as exc:
        unknown: list[Loc] = []
        for error in exc.errors():
            loc = data_loc(error["loc"], data)
            if loc in refused_locs:
                raw = error.get("input")
                if error["type"] in _NOT_A_NUMBER and isinstance(raw, str) and yaml11_boolean(raw):
                    position, said = refused_at[loc]
                    issues.discard(issue(position, loc, said))
                    issues.add(issue(position, loc, _boolean_where_a_number_is(raw)))
                continue
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                discriminator = str((error.get("ctx") or {}).get("discriminator", "")).strip("'")
                loc = (*loc, discriminator) if discriminator else loc
            if error["type"] == "extra_forbidden":
                unknown.append(loc)
            position = source.locate(loc, key=error["type"] == "extra_forbidden")
            if error["type"] in _BOUNDS and isinstance(error.get("input"), bool):
                message = _boolean_message(error.get("input"))  # lax mode read it as 1 or 0
            else:
                message = (message_hook(error, loc, data) if message_hook else None) or default_message(
                    error, loc
                )
            issues.add(issue(position, loc, message))
        data = _without(data, unknown)
        try:
            checked = model.model_validate(data) if unknown else None
        except ValidationError:
            checked = None
        if checked is None:
            issues |= located(parts(data) if parts else ())
            if semantic is not None:
                skipped = whole_checks or "the checks of what the file means"
                reason = "later checks did not run because the file's structure is invalid"
                issues.add(Issue(path, 1, 1, "(file)", f"{reason}: {skipped}"))
            return None, sorted(issues)
        instance = checked
    issues |= located((loc, m) for loc, m in _taken_as_numbers(data, instance) if loc not in refused_locs)
    issues |= located(semantic(instance) if semantic else ())
    return (instance if not issues else None), sorted(issues)
