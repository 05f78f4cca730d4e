"""Dates and amounts read the same in every text of one language, whatever the server's locale."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.core.i18n import format_date, format_day, format_eur, format_opening, format_short_date


def test_short_dates_in_plans_and_lists() -> None:
    assert format_short_date(date(2026, 3, 5), "es") == "05/03/2026"
    assert format_short_date(date(2026, 3, 5), "en") == "05 Mar 2026"
    assert format_short_date(date(2026, 12, 31), "en") == "31 Dec 2026"


def test_short_dates_match_the_c_locale_strftime_they_replace() -> None:
    day = date(2026, 1, 1)
    for _ in range(400):
        assert format_short_date(day, "es") == day.strftime("%d/%m/%Y")
        assert format_short_date(day, "en") == day.strftime("%d %b %Y")
        day += timedelta(days=1)


def test_when_a_person_is_next_available() -> None:
    monday = datetime(2026, 12, 7, 9, 0)
    assert format_opening(monday, "es") == "el lunes 07/12 a partir de las 09:00"
    assert format_opening(monday, "en") == "Monday 07 December at 09:00"
    assert format_opening(datetime(2026, 12, 12, 16, 30), "es") == "el sábado 12/12 a partir de las 16:30"


def test_long_dates_amounts_and_unknown_languages() -> None:
    assert format_date(date(2026, 3, 5), "es") == "5 de marzo de 2026"
    assert format_day(date(2026, 12, 3), "en") == "3 December"
    assert format_eur("1234.5", "es") == "1.234,50 €" and format_eur(32.9, "en") == "€32.90"
    with pytest.raises(ValueError, match="unsupported language"):
        format_short_date(date(2026, 1, 1), "fr")
