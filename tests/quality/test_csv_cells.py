"""Cells of the CSV the MES writes: values at the gauge's resolution, ISO 8601 UTC times, nothing a
spreadsheet would execute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mes.quality.csv_cells import fixed, iso_utc, measured, metres, significant, statistic, text


def test_times_are_iso_8601_utc_and_text_is_never_a_formula() -> None:
    cest = timezone(timedelta(hours=2))
    assert iso_utc(datetime(2026, 4, 13, 8, 0, 0, 999, tzinfo=cest)) == "2026-04-13T06:00:00Z"
    assert iso_utc(datetime(2026, 4, 13, 6, tzinfo=UTC)) == "2026-04-13T06:00:00Z" and iso_utc(None) == ""
    assert text('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert text("-1 looks like a number") == "'-1 looks like a number"
    assert text("suspect target") == "suspect target" and text(None) == ""
    assert fixed(-0.0001, 2) == "0.00" and metres(12.345) == "12.35" and metres(float("nan")) == ""


def test_readings_round_to_the_resolution_of_their_unit_statistics_one_digit_finer() -> None:
    assert measured(606.849999, "nm") == "606.8" and statistic(506.80123, "nm") == "506.80"
    assert measured(65.123456, "um") == "65.12" and statistic(65.123456, "um") == "65.123"
    assert measured(10.0004999, "mg_cm2") == "10.000" and statistic(10.00049, "mg_cm2") == "10.0005"
    assert measured(0.5, "mm") == "0.500"
    # No fixed decimals suit sheet resistance: significant digits, never an exponent.
    assert measured(1234.5678, "ohm_sq") == "1235" and measured(0.012345678, "ohm_sq") == "0.01235"
    assert statistic(123456.0, "ohm_sq") == "123460" and measured(0.0, "ohm_sq") == "0"
    assert significant(-0.000123456, 3) == "-0.000123"
    assert (
        measured(None, "nm") == ""
        and measured(float("nan"), "nm") == ""
        and statistic(float("inf"), "um") == ""
    )
