"""The CSV form of a lot report: every scalar one row, nothing a spreadsheet would execute."""

from __future__ import annotations

import csv
import io

from mes.quality.report import report_csv


def test_nested_report_flattens_to_section_item_field_value() -> None:
    report = {
        "lot": "A-1",
        "layers": [{"name": "si", "characteristics": [{"name": "thickness", "capability": {"cpk": 1.4}}]}],
        "intervals": [],
        "genealogy": {"forward": [{"number": "C-1", "start_m": 0.0}]},
        "dispositions": [{"reason": '=HYPERLINK("http://x")', "worst": -3.5, "by": None}],
    }
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert rows[0] == ["section", "item", "field", "value"]
    assert ["lot", "", "", "A-1"] in rows
    assert ["layers", "0", "characteristics[0].capability.cpk", "1.4"] in rows
    assert ["genealogy", "", "forward[0].number", "C-1"] in rows
    assert ["dispositions", "0", "reason", '\'=HYPERLINK("http://x")'] in rows  # not a formula
    assert ["dispositions", "0", "worst", "-3.5"] in rows  # numbers stay numbers
    assert ["dispositions", "0", "by", ""] in rows
    assert not any(r[0] == "intervals" for r in rows)  # an empty list has no rows
