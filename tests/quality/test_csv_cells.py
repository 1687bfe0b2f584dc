"""Cells of the CSV the MES writes: ISO 8601 UTC times, nothing a spreadsheet would execute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mes.quality.csv_cells import fixed, iso_utc, metres, text


def test_times_are_iso_8601_utc_and_text_is_never_a_formula() -> None:
    cest = timezone(timedelta(hours=2))
    assert iso_utc(datetime(2026, 4, 13, 8, 0, 0, 999, tzinfo=cest)) == "2026-04-13T06:00:00Z"
    assert iso_utc(datetime(2026, 4, 13, 6, tzinfo=UTC)) == "2026-04-13T06:00:00Z" and iso_utc(None) == ""
    assert text('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert text("-1 looks like a number") == "'-1 looks like a number"
    assert text("suspect target") == "suspect target" and text(None) == ""
    assert fixed(-0.0001, 2) == "0.00" and metres(12.345) == "12.35" and metres(float("nan")) == ""
