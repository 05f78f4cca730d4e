"""How amounts and dates read in each language the assistant speaks (one copy for every text)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from bot.core.language import LANGUAGES

_MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
              "septiembre", "octubre", "noviembre", "diciembre")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_WEEKDAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; expected one of {LANGUAGES}")


def format_eur(amount: Decimal | float | int | str, language: str) -> str:
    """Euro amount as customers read it: "1.234,50 €" in Spanish, "€1,234.50" in English."""
    check_language(language)
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    whole, frac = f"{abs(value):,.2f}".split(".")
    if language == "es":
        return f"{sign}{whole.replace(',', '.')},{frac} €"
    return f"{sign}€{whole}.{frac}"


def format_date(day: date, language: str) -> str:
    """"5 de marzo de 2026" / "5 March 2026"."""
    check_language(language)
    if language == "es":
        return f"{day.day} de {_MONTHS_ES[day.month - 1]} de {day.year}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def format_day(day: date, language: str) -> str:
    """A recent day without its year: "3 de diciembre" / "3 December"."""
    check_language(language)
    if language == "es":
        return f"{day.day} de {_MONTHS_ES[day.month - 1]}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]}"


def format_short_date(day: date, language: str) -> str:
    """A date in a list or a plan: "05/03/2026" / "05 Mar 2026" (the same on every locale)."""
    check_language(language)
    if language == "es":
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    return f"{day.day:02d} {_MONTHS_EN[day.month - 1][:3]} {day.year}"


def format_opening(moment: datetime, language: str) -> str:
    """When a person is next available: "el lunes 07/12 a partir de las 09:00" /
    "Monday 07 December at 09:00"."""
    check_language(language)
    clock = f"{moment.hour:02d}:{moment.minute:02d}"
    if language == "es":
        return f"el {_WEEKDAYS_ES[moment.weekday()]} {moment.day:02d}/{moment.month:02d} a partir de las {clock}"
    return f"{_WEEKDAYS_EN[moment.weekday()]} {moment.day:02d} {_MONTHS_EN[moment.month - 1]} at {clock}"
