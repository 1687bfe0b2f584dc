"""Every exception class lives in its layer's ``errors.py``; ``mes.cli.app`` maps them in one place."""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import mes
import workers
from mes.audit.errors import AuditChainBroken, AuditQueryInvalid
from mes.auth.errors import AuthError, InvalidUserName
from mes.equipment.errors import ArgumentInvalid, PortUnavailable
from mes.errors import InputError, MesError
from mes.execution.errors import StepInvalid, UnitNameInvalid
from mes.lots.errors import LotInvalid, OrderInvalid, TraceInvalid, TraceRefused
from mes.quality.errors import AlarmInvalid, DispositionInvalid, SpcInvalid
from mes.recipes.errors import ReasonMissing, RecipeRefInvalid
from mes.sim.errors import FaultSpecError
from workers.errors import BridgeTimeout

# Exception classes defined outside an errors.py on purpose, each with the reason.
OUTSIDE_ERRORS_PY = {
    "mes.yamldoc.DocumentRefused": (
        "the YAML reader's own signal: parse_document raises it and validate_document turns it "
        "into an Issue at file:line:col, so no caller meets it as an error"
    ),
    "mes.hmi.plant_time._Skipped": (
        "a local time the clock skips: raised and caught inside plant_to_utc, which answers it as a "
        "located problem of the search form"
    ),
    "mes.status._Down": (
        "one check's failure inside `mes status`: caught in the same module and printed as a FAIL line "
        "with its cause, never raised to a caller"
    ),
}

# Classes in an errors.py that are not MesError (so not mapped by mes.cli.app), each with the reason.
NOT_MES_ERRORS = {
    "mes.recipes.errors.FormulaError": (
        "a ValueError raised in the recipe schema's field validators: pydantic reports it as an "
        "issue at the formula's file:line:col"
    ),
    "mes.hmi.errors.LoginRequired": (
        "not a failure: a page asked for without a session answers the login page (303), mapped in "
        "mes.hmi.app; no command or API route meets it"
    ),
    "mes.sim.errors.Refused": (
        "never leaves the simulator: the unit answers it as an OPC UA status or counts a PackTags refusal"
    ),
}


def modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module under mes/ and workers/."""
    for package in (mes, workers):
        assert package.__file__ is not None
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root.parent).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def resolve(module: ModuleType, expr: ast.expr) -> object:
    """The object a base-class expression (``Name``, ``a.b.C``, ``C[...]``) names in ``module``."""
    if isinstance(expr, ast.Subscript):
        expr = expr.value
    attrs: list[str] = []
    while isinstance(expr, ast.Attribute):
        attrs.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    found = vars(module).get(expr.id, getattr(builtins, expr.id, None))
    for attr in reversed(attrs):
        found = getattr(found, attr, None)
    return found


@functools.cache
def exception_classes() -> list[tuple[str, str, type[BaseException] | None]]:
    """(module, class name, class when at module level) of every exception class defined in mes/, workers/."""
    found: list[tuple[str, str, type[BaseException] | None]] = []
    for name, path in modules():
        classes = [
            n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.ClassDef)
        ]
        if not classes:
            continue  # also keeps the Alembic scripts, which run on import, unimported
        module = importlib.import_module(name)
        for node in classes:
            bases = [resolve(module, b) for b in node.bases]
            if any(isinstance(b, type) and issubclass(b, BaseException) for b in bases):
                cls = vars(module).get(node.name)
                found.append((name, node.name, cls if isinstance(cls, type) else None))
    return found


def test_every_exception_class_is_defined_in_an_errors_module() -> None:
    outside = {
        f"{module}.{name}"
        for module, name, _ in exception_classes()
        if module.rpartition(".")[2] != "errors" and f"{module}.{name}" not in OUTSIDE_ERRORS_PY
    }
    assert not outside, (
        f"move these to their layer's errors.py (or allow them here, with the reason): {outside}"
    )
    # The walk does find the classes, and the exceptions allowed above still exist.
    found = {f"{module}.{name}" for module, name, _ in exception_classes()}
    assert {"mes.errors.MesError", "workers.errors.BridgeTimeout", "mes.sim.errors.Refused"} <= found
    assert set(OUTSIDE_ERRORS_PY) <= found


def test_every_error_in_an_errors_module_is_a_mes_error_or_says_why_not() -> None:
    others = {
        f"{module}.{name}"
        for module, name, cls in exception_classes()
        if module.rpartition(".")[2] == "errors" and not (cls is not None and issubclass(cls, MesError))
    }
    assert others == set(NOT_MES_ERRORS)


@pytest.mark.parametrize(
    "error",
    [AuditChainBroken, AuthError, TraceRefused, PortUnavailable, BridgeTimeout],
    ids=lambda e: e.__name__,
)
def test_the_console_script_maps_each_layers_error_to_one_line_and_exit_1(
    error: type[MesError], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def app(**_kwargs: object) -> None:
        raise error("what was wrong, and where")

    # The module, not the package's entry-point function of the same name.
    cli_main = importlib.import_module("mes.cli.app")
    monkeypatch.setattr(cli_main, "app", app)
    with pytest.raises(SystemExit) as exited:
        cli_main.main([])
    assert exited.value.code == 1
    assert capsys.readouterr().err == "mes: error: what was wrong, and where\n"


@pytest.mark.parametrize(
    "error",
    [
        InvalidUserName, LotInvalid, OrderInvalid, TraceInvalid, RecipeRefInvalid, ReasonMissing, SpcInvalid,
        AlarmInvalid, DispositionInvalid, AuditQueryInvalid, StepInvalid, UnitNameInvalid, ArgumentInvalid,
        FaultSpecError,
    ],
    ids=lambda e: e.__name__,
)  # fmt: skip
def test_a_value_that_cannot_be_used_exits_2_in_every_layer(
    error: type[MesError], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def app(**_kwargs: object) -> None:
        raise error("what was wrong, and what to give instead")

    cli_main = importlib.import_module("mes.cli.app")
    monkeypatch.setattr(cli_main, "app", app)
    with pytest.raises(SystemExit) as exited:
        cli_main.main([])
    assert issubclass(error, InputError)
    assert exited.value.code == 2
    assert capsys.readouterr().err == "mes: error: what was wrong, and what to give instead\n"
