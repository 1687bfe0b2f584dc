"""Genealogy trace, backward and forward, on both backends: metres, scans, intervals, depth, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from mes.base import pk
from mes.cli import main
from mes.config import get_settings
from mes.db import session_scope
from mes.lots.errors import LotNotFound, TraceRefused
from mes.lots.models import (
    Characteristic,
    Disposition,
    GaugeScan,
    GenealogyLink,
    IntervalStatus,
    Layer,
    Lot,
    LotKind,
    LotStatus,
    OosInterval,
)
from mes.lots.orders import get_lot
from mes.lots.trace import backward, forward, walk_nodes
from mes.lots.trace_models import BackwardNode
from tests.test_cli import run_mes

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def coat_weight(position_m: float) -> float:
    """The anode's coat weight in mg/cm² at a position: distinct everywhere, so sums identify scans."""
    return 10.0 + position_m / 1000


def add_lot(session: Session, number: str, kind: LotKind, length_m: float, **fields: Any) -> Lot:
    lot = Lot(number=number, kind=kind, status=LotStatus.RELEASED, length_m=length_m, **fields)
    session.add(lot)
    session.flush()
    return lot


def link(session: Session, parent: Lot, child: Lot, role: str, start_m: float, end_m: float) -> None:
    session.add(
        GenealogyLink(
            parent_lot_id=pk(parent),
            child_lot_id=pk(child),
            role=role,
            parent_start_m=start_m,
            parent_end_m=end_m,
        )
    )


def coat(
    session: Session,
    lot: Lot,
    *,
    layer: str,
    char: str,
    unit: str,
    spec: tuple[float, float, float],
    positions: list[float],
    value: Any,
    intervals: list[tuple[float, float, IntervalStatus]],
) -> None:
    """A coated layer with one characteristic, four-lane scans at ``positions`` and out-of-spec intervals."""
    row = Layer(
        lot_id=pk(lot),
        layer_index=0,
        name=layer,
        material="C" if lot.kind == LotKind.ANODE else "LiNi0.8Mn0.1Co0.1O2",
        method="slot_die",
        disposition_policy=Disposition.HOLD_INTERVAL,
    )
    session.add(row)
    session.flush()
    lsl, target, usl = spec
    c = Characteristic(
        layer_id=pk(row),
        name=char,
        unit=unit,
        target=target,
        lsl=lsl,
        usl=usl,
        gauge="g1",
        pitch_m=25,
        lanes=4,
    )
    session.add(c)
    session.flush()
    for seq, pos in enumerate(positions):
        v = value(pos)
        lanes = [v - 0.01, v, v + 0.01, v]
        session.add(
            GaugeScan(
                lot_id=pk(lot),
                layer_id=pk(row),
                characteristic_id=pk(c),
                seq=seq,
                position_m=pos,
                measured_at=T0 + timedelta(seconds=seq),
                lane_values=lanes,
                min_value=min(lanes),
                mean_value=sum(lanes) / 4,
                max_value=max(lanes),
            )
        )
    for start, end, status in intervals:
        session.add(
            OosInterval(
                lot_id=pk(lot),
                layer_id=pk(row),
                characteristic_id=pk(c),
                start_m=start,
                end_m=end,
                worst_value=usl + 0.2,
                limit_value=usl,
                limit_kind="usl",
                disposition=Disposition.HOLD_INTERVAL,
                status=status,
            )
        )
    session.flush()


@dataclass(frozen=True)
class Plant:
    anode: int
    cathode: int
    separator: int
    foil: int
    cells: list[int]


@pytest.fixture
def plant(engine: Engine) -> Plant:
    """Copper foil → anode; anode + cathode + separator → three cells on consecutive metres.

    Anode scans every 25 m (0…975), cathode every 50 m; cell k (1-based) winds anode and
    cathode metres [100k, 100k+100] and separator metres [200(k-1), 200k].
    """
    with session_scope(engine) as s:
        foil = add_lot(
            s, "R-CU-1", LotKind.FOIL, 5000, material="Cu 8 µm", supplier="Foilco", supplier_lot="CU-778"
        )
        sep = add_lot(
            s, "R-SEP-1", LotKind.SEPARATOR, 2000, material="PE 12 µm", supplier="Sepco", supplier_lot="S-9"
        )
        anode = add_lot(s, "ANODE-1", LotKind.ANODE, 1000, material="graphite anode")
        cathode = add_lot(s, "CATHODE-1", LotKind.CATHODE, 1000, material="NMC811 cathode")
        link(s, foil, anode, "substrate", 1000, 2000)
        coat(
            s,
            anode,
            layer="graphite-coat",
            char="coat_weight",
            unit="mg/cm2",
            spec=(9.5, 10.0, 10.5),
            positions=[25.0 * i for i in range(40)],
            value=coat_weight,
            intervals=[
                (140, 160, IntervalStatus.HELD),
                (190, 205, IntervalStatus.FLAGGED),
                (600, 650, IntervalStatus.HELD),
            ],
        )
        coat(
            s,
            cathode,
            layer="nmc-coat",
            char="thickness",
            unit="um",
            spec=(60, 65, 70),
            positions=[50.0 * i for i in range(20)],
            value=lambda p: 65 + p / 1000,
            intervals=[(350, 360, IntervalStatus.HELD)],
        )
        cells = []
        for k in (1, 2, 3):
            cell = add_lot(s, f"CELL-{k}", LotKind.CELL, 100, material="20 cells")
            link(s, anode, cell, "anode", 100 * k, 100 * k + 100)
            link(s, cathode, cell, "cathode", 100 * k, 100 * k + 100)
            link(s, sep, cell, "separator", 200 * (k - 1), 200 * k)
            cells.append(pk(cell))
        return Plant(anode=pk(anode), cathode=pk(cathode), separator=pk(sep), foil=pk(foil), cells=cells)


def by_role(node: BackwardNode) -> dict[str, BackwardNode]:
    return {p.role or "": p for p in node.parents}


def test_backward_gives_the_used_metres_their_scans_and_intervals(engine: Engine, plant: Plant) -> None:
    with session_scope(engine) as s:
        tree = backward(s, plant.cells[0])
    assert tree.lot.number == "CELL-1" and tree.role is None and tree.depth == 0
    assert [(p.role, p.lot.number, p.start_m, p.end_m) for p in tree.parents] == [
        ("anode", "ANODE-1", 100, 200),
        ("cathode", "CATHODE-1", 100, 200),
        ("separator", "R-SEP-1", 0, 200),
    ]
    anode = by_role(tree)["anode"]
    [layer] = anode.layers
    assert (layer.name, layer.material, layer.method) == ("graphite-coat", "C", "slot_die")
    [char] = layer.characteristics
    assert (char.name, char.unit, char.lsl, char.target, char.usl) == (
        "coat_weight",
        "mg/cm2",
        9.5,
        10.0,
        10.5,
    )
    # Scans at 100, 125, 150, 175 m only: 200 m is the next cell's first metre.
    inside = [coat_weight(p) for p in (100, 125, 150, 175)]
    assert char.stats.n_scans == 4 and char.stats.n_values == 16
    assert char.stats.min_value == pytest.approx(min(inside) - 0.01)
    assert char.stats.max_value == pytest.approx(max(inside) + 0.01)
    assert char.stats.mean_value == pytest.approx(sum(inside) / 4)
    assert [(i.start_m, i.end_m, i.status) for i in anode.intervals] == [
        (140, 160, IntervalStatus.HELD),
        (190, 205, IntervalStatus.FLAGGED),
    ]
    assert anode.intervals[0].characteristic == "coat_weight"
    # The anode's own input, whole: the metres of the foil that went into the anode lot.
    [foil] = anode.parents
    assert (foil.role, foil.lot.number, foil.start_m, foil.end_m, foil.depth) == (
        "substrate",
        "R-CU-1",
        1000,
        2000,
        2,
    )
    assert (foil.lot.supplier, foil.lot.supplier_lot, foil.layers, foil.parents) == (
        "Foilco",
        "CU-778",
        [],
        [],
    )

    cathode = by_role(tree)["cathode"]
    assert cathode.layers[0].characteristics[0].stats.n_scans == 2  # 100 and 150 m
    assert cathode.intervals == []
    separator = by_role(tree)["separator"]
    assert (separator.layers, separator.intervals, separator.parents) == ([], [], [])
    assert not any(n.cycle or n.truncated for n in walk_nodes(tree))


def test_backward_next_cell_starts_on_the_shared_metre(engine: Engine, plant: Plant) -> None:
    with session_scope(engine) as s:
        anode = by_role(backward(s, plant.cells[1]))["anode"]
    assert (anode.start_m, anode.end_m) == (200, 300)
    stats = anode.layers[0].characteristics[0].stats
    assert stats.n_scans == 4
    assert stats.mean_value == pytest.approx(sum(coat_weight(p) for p in (200, 225, 250, 275)) / 4)
    # [190, 205] overlaps; [140, 160] and [600, 650] do not.
    assert [(i.start_m, i.end_m) for i in anode.intervals] == [(190, 205)]


def test_backward_of_a_purchased_lot_is_just_the_lot(engine: Engine, plant: Plant) -> None:
    with session_scope(engine) as s:
        tree = backward(s, plant.foil)
    assert tree.lot.number == "R-CU-1" and tree.parents == []


def test_backward_depth_limit_marks_the_cut(engine: Engine, plant: Plant) -> None:
    with session_scope(engine) as s:
        tree = backward(s, plant.cells[0], max_depth=1)
    anode = by_role(tree)["anode"]
    assert anode.parents == [] and anode.truncated
    assert not by_role(tree)["separator"].truncated


def hits(
    engine: Engine, lot_id: int, start_m: float | None = None, end_m: float | None = None, **kw: Any
) -> list[tuple[int, str, str, str, float, float]]:
    with session_scope(engine) as s:
        return [
            (h.depth, h.number, h.role, h.parent_number, h.start_m, h.end_m)
            for h in forward(s, lot_id, start_m, end_m, **kw)
        ]


def test_forward_from_an_interval_finds_exactly_the_overlapping_cells(engine: Engine, plant: Plant) -> None:
    assert hits(engine, plant.anode, 150, 250) == [
        (1, "CELL-1", "anode", "ANODE-1", 150, 200),
        (1, "CELL-2", "anode", "ANODE-1", 200, 250),
    ]
    # Touching is not overlapping: CELL-1 ends and CELL-3 starts on the interval's ends.
    assert hits(engine, plant.anode, 200, 300) == [(1, "CELL-2", "anode", "ANODE-1", 200, 300)]
    assert hits(engine, plant.anode, 0, 100) == []
    assert hits(engine, plant.anode, 399.5, 1000) == [(1, "CELL-3", "anode", "ANODE-1", 399.5, 400)]
    assert [h[1] for h in hits(engine, plant.separator, 150, 450)] == ["CELL-1", "CELL-2", "CELL-3"]
    with session_scope(engine) as s:
        [hit] = forward(s, plant.cathode, 210, 220)
    assert (hit.number, hit.kind, hit.status, hit.parent_number) == (
        "CELL-2",
        LotKind.CELL,
        LotStatus.RELEASED,
        "CATHODE-1",
    )


def test_forward_whole_lot_and_two_levels(engine: Engine, plant: Plant) -> None:
    assert [h[1] for h in hits(engine, plant.anode)] == ["CELL-1", "CELL-2", "CELL-3"]
    # Foil metres inside the anode's link reach the anode, then every cell wound from it, whole.
    assert hits(engine, plant.foil, 1500, 1600) == [
        (1, "ANODE-1", "substrate", "R-CU-1", 1500, 1600),
        (2, "CELL-1", "anode", "ANODE-1", 100, 200),
        (2, "CELL-2", "anode", "ANODE-1", 200, 300),
        (2, "CELL-3", "anode", "ANODE-1", 300, 400),
    ]
    assert hits(engine, plant.foil, 0, 1000) == []  # touches the link at 1000 m
    assert hits(engine, plant.foil, 1500, 1600, max_depth=1) == [
        (1, "ANODE-1", "substrate", "R-CU-1", 1500, 1600)
    ]
    assert hits(engine, plant.cells[0]) == []


def test_a_cycle_in_bad_data_ends(engine: Engine, plant: Plant) -> None:
    with session_scope(engine) as s:
        link(s, s.get_one(Lot, plant.cells[0]), s.get_one(Lot, plant.foil), "rework", 0, 10)
    found = hits(engine, plant.foil)
    assert len(found) == len({(h[1], h[3], h[4]) for h in found})  # each link once
    assert "R-CU-1" not in [h[1] for h in found]
    assert [h[1] for h in found if h[0] == 1] == ["ANODE-1"]
    with session_scope(engine) as s:
        tree = backward(s, plant.cells[0])
    foil = by_role(tree)["anode"].parents[0]
    [back] = foil.parents
    assert back.lot.number == "CELL-1" and back.cycle and back.parents == []


def test_unknown_lots_and_bad_intervals_are_refused(engine: Engine, plant: Plant) -> None:
    with session_scope(engine) as s:
        with pytest.raises(LotNotFound, match="no lot NOPE"):
            get_lot(s, "NOPE")
        with pytest.raises(LotNotFound):
            backward(s, 999_999)
        with pytest.raises(LotNotFound):
            forward(s, 999_999)
        for start, end, message in (
            (300, 200, "empty"),
            (100, 100, "empty"),
            (-1, 10, "not inside lot ANODE-1"),
            (900, 1000.5, "not inside lot ANODE-1"),
            (100, None, "both"),
            (None, 100, "both"),
        ):
            with pytest.raises(TraceRefused, match=message):
                forward(s, plant.anode, start, end)
        with pytest.raises(TraceRefused, match="depth"):
            backward(s, plant.anode, max_depth=0)


@dataclass
class Counter:
    statements: int = 0


@pytest.fixture
def statements(engine: Engine) -> Iterator[Counter]:
    counter = Counter()

    def count(*_args: Any) -> None:
        counter.statements += 1

    event.listen(engine, "before_cursor_execute", count)
    yield counter
    event.remove(engine, "before_cursor_execute", count)


def fan(engine: Engine, tag: str, cells: int) -> tuple[int, int]:
    """(anode id, id of a cell wound from ``cells`` anode lots) after an anode feeds ``cells`` cells."""
    with session_scope(engine) as s:
        foil = add_lot(s, f"{tag}-FOIL", LotKind.FOIL, 100_000, supplier="Foilco", supplier_lot=tag)
        anode = add_lot(s, f"{tag}-A", LotKind.ANODE, 10.0 * cells)
        link(s, foil, anode, "substrate", 0, 10.0 * cells)
        coat(
            s,
            anode,
            layer="coat",
            char="coat_weight",
            unit="mg/cm2",
            spec=(9.5, 10, 10.5),
            positions=[5.0 * i for i in range(2 * cells)],
            value=coat_weight,
            intervals=[(10.0 * i, 10.0 * i + 1, IntervalStatus.HELD) for i in range(cells)],
        )
        for k in range(cells):
            link(s, anode, add_lot(s, f"{tag}-C{k}", LotKind.CELL, 10), "anode", 10.0 * k, 10.0 * k + 10)
        # A cell with one input from each of ``cells`` coated lots, for the backward count.
        wide = add_lot(s, f"{tag}-WIDE", LotKind.CELL, 10)
        for k in range(cells):
            lot = add_lot(s, f"{tag}-IN{k}", LotKind.ANODE, 100)
            coat(
                s,
                lot,
                layer="coat",
                char="coat_weight",
                unit="mg/cm2",
                spec=(9.5, 10, 10.5),
                positions=[0, 50],
                value=coat_weight,
                intervals=[(20, 30, IntervalStatus.HELD)],
            )
            link(s, foil, lot, "substrate", 10_000 + 100.0 * k, 10_100 + 100.0 * k)
            link(s, lot, wide, "anode", 0, 100)
        return pk(anode), pk(wide)


def test_statement_count_does_not_grow_with_the_lots_found(engine: Engine, statements: Counter) -> None:
    counts: dict[int, tuple[int, int]] = {}
    for cells in (5, 50):
        anode, wide = fan(engine, f"F{cells}", cells)
        with session_scope(engine) as s:
            before = statements.statements
            found = forward(s, anode)
            forward_count = statements.statements - before
        assert len(found) == cells
        with session_scope(engine) as s:
            before = statements.statements
            tree = backward(s, wide)
            backward_count = statements.statements - before
        assert len(tree.parents) == cells and len(walk_nodes(tree)) == 1 + 2 * cells
        assert all(p.intervals and p.layers[0].characteristics[0].stats.n_scans == 2 for p in tree.parents)
        counts[cells] = (forward_count, backward_count)
    assert counts[5] == counts[50] == (2, 5)


@pytest.fixture
def cli_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MES_DATABASE_URL", db_url)
    get_settings.cache_clear()  # settings are read once per process
    yield
    get_settings.cache_clear()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("cli_database")
def test_cli_prints_json_and_tables(plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "lot", "trace", "CELL-1", "--backward", "--json")
    assert code == 0, err
    tree = json.loads(out)
    assert [(p["role"], p["lot"]["number"], p["start_m"], p["end_m"]) for p in tree["parents"]] == [
        ("anode", "ANODE-1", 100, 200),
        ("cathode", "CATHODE-1", 100, 200),
        ("separator", "R-SEP-1", 0, 200),
    ]
    assert tree["parents"][0]["intervals"][0]["status"] == "held"
    assert tree["parents"][0]["parents"][0]["lot"]["supplier_lot"] == "CU-778"

    code, out, err = run_cli(
        capsys, "lot", "trace", "ANODE-1", "--forward", "--start-m", "150", "--end-m", "250", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert [(h["number"], h["start_m"], h["end_m"], h["kind"]) for h in report["hits"]] == [
        ("CELL-1", 150, 200, "cell"),
        ("CELL-2", 200, 250, "cell"),
    ]

    code, out, err = run_cli(capsys, "lot", "trace", "CELL-1", "--backward")
    assert code == 0, err
    assert "anode: ANODE-1" in out and "100.00–200.00 m" in out and "interval 140.00–160.00 m" in out
    assert "R-CU-1" in out and "4 scans (16 values)" in out
    code, out, err = run_cli(capsys, "lot", "trace", "R-CU-1", "--forward")
    assert code == 0, err
    assert "ANODE-1" in out and "CELL-3" in out
    code, out, err = run_cli(capsys, "lot", "trace", "CELL-3", "--forward")
    assert code == 0 and "nothing was made from lot CELL-3" in out


@pytest.mark.usefixtures("cli_database", "plant")
@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["NOPE", "--backward"], 1, "no lot NOPE"),
        # A trace asked as none can be is a usage error: exit 2 (it was 1, as a refusal).
        (["ANODE-1"], 2, "exactly one of --forward or --backward"),
        (["ANODE-1", "--forward", "--backward"], 2, "exactly one of --forward or --backward"),
        (["ANODE-1", "--forward", "--start-m", "300", "--end-m", "200"], 2, "is empty"),
        (
            ["ANODE-1", "--forward", "--start-m", "900", "--end-m", "1200"],
            1,
            "not inside lot ANODE-1 (0–1000 m)",
        ),
        (["ANODE-1", "--forward", "--start-m", "10"], 2, "both the start and the end"),
        (["ANODE-1", "--backward", "--start-m", "1", "--end-m", "2"], 2, "use them with --forward"),
    ],
)
def test_cli_refuses_with_one_line(
    argv: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, out, err = run_cli(capsys, "lot", "trace", *argv, "--json")
    assert exit_code == code, err
    assert out == ""
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("mes: error: ") and needle in line


# The text is the same on both backends: one run, as a user runs it, is enough.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_backward_tree_wraps_and_cuts_nothing(plant: Plant, db_url: str, tmp_path: Path) -> None:
    """Every word of the tree is printed at any width: lines wrap under their branch, none is cut."""

    def words(width: int) -> list[str]:
        result = run_mes("lot", "trace", "CELL-1", "--backward", env={"MES_DATABASE_URL": db_url,
                         "COLUMNS": str(width)}, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert all(len(line) <= width for line in result.stdout.splitlines()), result.stdout
        return [w for w in result.stdout.split() if w.strip("│├└─┬")]

    whole = words(400)
    assert "100.00–200.00" in whole and "R-CU-1" in whole
    # Expected: the same words at 60 and 100 columns (the tree cut its lines at the edge: "… on sputt",
    # the metre range gone).
    for width in (100, 60):
        assert words(width) == whole, width
