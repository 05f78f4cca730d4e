"""The error raised for an invalid data file, and the YAML reader the loaders share.

Every message names the file (relative to the project root when inside it), the entry and the
problem, e.g. ``data/plans.yml: plan 'fibra_1g': monthly_price must be > 0``, so whoever edits
the business data can fix it without reading code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config.settings import PROJECT_ROOT


class ConfigError(ValueError):
    """A data file is missing, unreadable or invalid."""

    def __init__(self, message: str, *, path: Path | None = None, entry: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.entry = entry

    @classmethod
    def at(cls, path: Path | str, problem: str, entry: str | None = None) -> ConfigError:
        """Build the error for ``problem`` in ``entry`` (e.g. "offer 'x'") of the file ``path``."""
        where = display_path(path)
        message = f"{where}: {entry}: {problem}" if entry else f"{where}: {problem}"
        return cls(message, path=Path(path), entry=entry)


def display_path(path: Path | str) -> str:
    """``path`` relative to the project root when it lies inside it, else as given."""
    p = Path(path)
    try:
        return p.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(p)


def read_yaml(path: Path | str) -> Any:
    """Parse a YAML file; a missing file or a syntax error becomes a ConfigError naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.at(p, f"cannot read file ({exc.strerror or exc})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError.at(p, f"invalid YAML{where}: {problem}") from exc
