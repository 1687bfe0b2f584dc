"""OPC UA statuses are classified in one place; values are checked against their data types."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from asyncua import ua

import mes
from mes.equipment import status
from mes.equipment.encoding import encoding_problem, finite, whole
from mes.equipment.errors import (
    BadStatus,
    CommandRefused,
    ConnectionLost,
    EncodingRefused,
    SecurityRefused,
)
from mes.equipment.status import Kind, classify, is_link, translate

CLASSES = [
    # status, connecting, command → kind
    ("BadConnectionClosed", False, False, Kind.LINK),
    ("BadTimeout", False, False, Kind.LINK),
    ("BadServerHalted", False, False, Kind.LINK),
    # a reconnecting session answers these to the requests in flight: link states …
    ("BadUserAccessDenied", False, False, Kind.LINK),
    ("BadSessionIdInvalid", False, False, Kind.LINK),
    ("BadSecureChannelClosed", False, False, Kind.LINK),
    ("BadSessionClosed", False, False, Kind.LINK),
    ("BadUserAccessDenied", False, True, Kind.LINK),
    # … but a wrong password at connect() is a security refusal
    ("BadUserAccessDenied", True, False, Kind.SECURITY),
    ("BadCertificateUntrusted", True, False, Kind.SECURITY),
    ("BadCertificateUntrusted", False, False, Kind.SECURITY),
    ("BadInvalidState", False, True, Kind.REFUSAL),
    ("BadInvalidArgument", False, True, Kind.REFUSAL),
    ("BadInvalidState", False, False, Kind.OTHER),  # not a command: nothing was refused
    ("BadNodeIdUnknown", False, False, Kind.OTHER),
    ("BadSensorFailure", False, False, Kind.OTHER),
    ("BadTypeMismatch", False, False, Kind.OTHER),
    ("BadOutOfRange", False, True, Kind.OTHER),
]


@pytest.mark.parametrize(("name", "connecting", "command", "kind"), CLASSES)
def test_classification_table(name: str, connecting: bool, command: bool, kind: Kind) -> None:
    assert classify(name, connecting=connecting, command=command) is kind


def _bad(name: str) -> ua.UaStatusCodeError:
    return ua.UaStatusCodeError(getattr(ua.StatusCodes, name))


def test_translation_names_unit_node_and_status() -> None:
    error = translate(
        _bad("BadSensorFailure"), unit="sputter-1", what="read state", node="state (ns=2;s=S.State)"
    )
    assert isinstance(error, BadStatus)
    assert (error.unit, error.node, error.status) == (
        "sputter-1",
        "state (ns=2;s=S.State)",
        "BadSensorFailure",
    )
    assert str(error) == "sputter-1: read state at state (ns=2;s=S.State): the unit answered BadSensorFailure"
    assert isinstance(translate(_bad("BadNodeIdUnknown"), unit="u", what="read"), BadStatus)
    assert isinstance(translate(_bad("BadSessionIdInvalid"), unit="u", what="read"), ConnectionLost)
    assert isinstance(translate(_bad("BadUserAccessDenied"), unit="u", what="read"), ConnectionLost)
    assert isinstance(
        translate(_bad("BadUserAccessDenied"), unit="u", what="c", connecting=True), SecurityRefused
    )
    assert isinstance(
        translate(_bad("BadInvalidState"), unit="u", what="Start", command=True), CommandRefused
    )
    assert isinstance(
        translate(_bad("BadTooManyOperations"), unit="u", what="c", connecting=True), ConnectionLost
    )
    assert isinstance(translate(ConnectionError("reconnecting"), unit="u", what="read"), ConnectionLost)
    assert isinstance(translate(TimeoutError(), unit="u", what="read"), ConnectionLost)
    assert isinstance(translate(ua.UaError("odd answer"), unit="u", what="read"), BadStatus)
    assert is_link(_bad("BadUserAccessDenied"))
    assert not is_link(_bad("BadUserAccessDenied"), connecting=True)
    assert not is_link(_bad("BadTypeMismatch"))
    assert is_link(ConnectionError()) and is_link(OSError()) and not is_link(ua.UaError())


def test_a_failed_security_setup_is_a_refusal_unless_the_link_failed() -> None:
    def setup(exc: BaseException) -> object:
        return translate(exc, unit="u", what="security setup failed", securing=True)

    refused = setup(
        ua.UaError("No matching endpoints: 3 and http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256")
    )
    assert isinstance(refused, SecurityRefused)
    assert str(refused) == (
        "u: security setup failed: No matching endpoints: 3 and "
        "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
    )
    assert isinstance(setup(_bad("BadSecurityChecksFailed")), SecurityRefused)
    assert isinstance(setup(_bad("BadUserAccessDenied")), SecurityRefused)
    assert isinstance(setup(_bad("BadTooManyOperations")), SecurityRefused)
    assert isinstance(setup(_bad("BadTimeout")), ConnectionLost)
    assert isinstance(setup(_bad("BadServerHalted")), ConnectionLost)


ENCODINGS = [
    (-10, "UInt16", "-10 does not fit a UInt16 (0…65535)"),
    (70000, "UInt16", "70000 does not fit a UInt16"),
    (2.5, "Int32", "2.5 is not a whole number (Int32)"),
    (math.nan, "Float", "is not a finite number (Float)"),
    (math.inf, "Double", "is not a finite number (Double)"),
    (1e39, "Float", "does not fit a Float"),
    (True, "Int32", "is not a number (Int32)"),
    ("7", "UInt32", "is not a number (UInt32)"),
    (7, "String", "is not a string"),
    (1, "Boolean", "is not a Boolean"),
    (2**31, "Int32", "does not fit a Int32"),
]


@pytest.mark.parametrize(("value", "data_type", "problem"), ENCODINGS)
def test_values_are_checked_against_their_data_type(value: object, data_type: str, problem: str) -> None:
    found = encoding_problem(value, data_type)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    ("value", "data_type"),
    [(65535, "UInt16"), (-32768, "Int16"), (3.0, "UInt32"), (1e38, "Float"), ("x", "String")],
)
def test_values_that_fit(value: object, data_type: str) -> None:
    assert encoding_problem(value, data_type) is None


def test_values_read_from_a_machine_are_numbers_or_missing() -> None:
    assert [finite(v) for v in (1, 2.5, math.nan, -math.inf, None, "3", True)] == [
        1.0,
        2.5,
        None,
        None,
        None,
        None,
        None,
    ]
    assert [whole(v) for v in (4, 4.0, 4.5, math.nan, None)] == [4, 4, None, None, None]


def test_encoding_refused_is_a_limit_violation() -> None:
    from mes.equipment.encoding import encode

    with pytest.raises(EncodingRefused, match="sputter-1:sp.bias: -10 does not fit a UInt16"):
        encode(-10, "UInt16", where="sputter-1:sp.bias")
    assert encode(7.0, "UInt16", where="x").Value.Value == 7


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_bad("BadSensorFailure"), True),
        (ua.UaError("x"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (BadStatus("x"), False),
        (ValueError("x"), False),
    ],
)
def test_is_asyncua_tells_the_stacks_errors_from_ours(exc: BaseException, expected: bool) -> None:
    assert status.is_asyncua(exc) is expected


# Modules that may spell OPC UA statuses: the one translation, and the simulators, which produce them.
MAY_NAME_STATUSES = ("mes/equipment/status.py", "mes/sim/")
STATUS_NAMES = frozenset(n for n in dir(ua.StatusCodes) if n[:1].isupper())
STATUS_PREFIXES = ("Bad", "Good", "Uncertain")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions (prose, not checks)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _status_checks(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every place ``tree`` names an OPC UA status to check against one."""
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if node.value in STATUS_NAMES:
                found.append((node.lineno, f"status name {node.value!r}"))
        elif isinstance(node, ast.Compare | ast.Call):
            # name.startswith("Bad"), "BadTime" in str(exc), code.name == "Good…"
            operands = [node.left, *node.comparators] if isinstance(node, ast.Compare) else node.args
            for part in operands:
                text = part.value if isinstance(part, ast.Constant) else None
                if isinstance(text, str) and text.startswith(STATUS_PREFIXES) and text not in STATUS_NAMES:
                    found.append((node.lineno, f"status prefix {text!r}"))
        elif isinstance(node, ast.Attribute) and node.attr == "StatusCodes":
            # ua.StatusCodes.BadTimeout, getattr(ua.StatusCodes, name): a status by its number
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_only_the_translation_names_opc_ua_statuses() -> None:
    """Outside mes/equipment/status.py no module compares a status by its name or number: one translation."""
    root = Path(mes.__file__).parent.parent
    offences = []
    for path in sorted([*(root / "mes").rglob("*.py"), *(root / "workers").rglob("*.py")]):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(MAY_NAME_STATUSES):
            continue
        for line, what in _status_checks(ast.parse(path.read_text(encoding="utf-8"))):
            offences.append(f"{relative}:{line}: {what}")
    assert not offences, "route these through mes.equipment.status:\n" + "\n".join(offences)


def test_the_status_name_check_finds_what_it_looks_for() -> None:
    source = '''
"""Docstrings may say BadTimeout."""
def f(exc, code):
    """So may this one: BadSensorFailure."""
    if status_name(exc) == "BadTimeout":
        return 1
    if str(exc).startswith("Bad"):
        return 2
    if code.value == ua.StatusCodes.BadNodeIdUnknown:
        return 3
    if code.value == getattr(ua.StatusCodes, name):
        return 4
    return {"BadUserAccessDenied"}
'''
    found = sorted(what for _, what in _status_checks(ast.parse(source)))
    assert found == [
        "status name 'Bad'",
        "status name 'BadTimeout'",
        "status name 'BadUserAccessDenied'",
        "ua.StatusCodes",
        "ua.StatusCodes",
    ]
    assert _status_checks(ast.parse('if text.startswith("Uncertain_"): pass')) == [
        (1, "status prefix 'Uncertain_'")
    ]
