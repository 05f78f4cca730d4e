"""Checks the body of a Dash callback request (``POST /_dash-update-component``) before Dash reads it.

Dash indexes the body without looking (``body["output"]``, ``item.get("value")`` on each input, the
values handed to the callback by position), so a malformed body ends in a KeyError, TypeError or
AttributeError, that is a 500. :func:`body_error` describes what is wrong with a body instead, for a
400: it must be the JSON object Dash's renderer sends for one of the app's callbacks, with that
callback's outputs, inputs and state in their declared order, and every value of the type the
component gives (``VALUE_RULES`` in :mod:`analytics.app`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Rule = Callable[[Any], bool]

MAX_TEXT = 2048
MAX_CHOICES = 100
MAX_CHANGED = 50


# ============================================================================ value rules


def optional_text(value: Any) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= MAX_TEXT)


def optional_int(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def optional_object(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def choices(value: Any) -> bool:
    """A dropdown's value: nothing, one option or a list of options."""
    if isinstance(value, list):
        return len(value) <= MAX_CHOICES and all(isinstance(v, str) and len(v) <= MAX_TEXT for v in value)
    return optional_text(value)


# ============================================================================ the body


def parse(data: bytes) -> tuple[Any, str | None]:
    """The JSON in ``data``, or an error (a nesting deep enough to exhaust the parser is one too)."""
    try:
        return json.loads(data), None
    except (ValueError, RecursionError):
        return None, "the body is not valid JSON"


def body_error(body: Any, callbacks: Mapping[str, Mapping[str, Any]], rules: Mapping[str, Rule]) -> str | None:
    """What is wrong with this callback request, or None when Dash can run it."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callbacks:
        return "unknown callback output"
    spec = callbacks[output]
    return (_outputs_error(body.get("outputs"), output)
            or _dependencies_error("inputs", body.get("inputs"), spec.get("inputs", []), rules)
            or _dependencies_error("state", body.get("state", []), spec.get("state", []), rules)
            or _changed_error(body.get("changedPropIds", [])))


def missing_rules(callbacks: Mapping[str, Mapping[str, Any]], rules: Mapping[str, Rule]) -> list[str]:
    """The callback inputs and states that have no value rule (a request using them is refused)."""
    return sorted({_key(dep) for spec in callbacks.values() for part in ("inputs", "state")
                   for dep in spec.get(part, [])} - set(rules))


def _key(item: Mapping[str, Any]) -> str:
    return f"{item.get('id')}.{item.get('property')}"


def _declared_outputs(output: str) -> list[str]:
    """``page.children``, or Dash's spelling of several outputs: ``..a.children...b.children..``."""
    return output[2:-2].split("...") if output.startswith("..") else [output]


def _is_reference(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("property"), str)


def _outputs_error(outputs: Any, output: str) -> str | None:
    items = outputs if isinstance(outputs, list) else [outputs]
    if not all(_is_reference(o) for o in items) or [_key(o) for o in items] != _declared_outputs(output):
        return "outputs do not match the callback"
    return None


def _dependencies_error(part: str, items: Any, declared: Sequence[Mapping[str, Any]],
                        rules: Mapping[str, Rule]) -> str | None:
    if not isinstance(items, list) or len(items) != len(declared):
        return f"{part} do not match the callback"
    for item, dep in zip(items, declared):
        if not _is_reference(item) or _key(item) != _key(dep):
            return f"{part} do not match the callback"
        rule = rules.get(_key(dep))
        if rule is None or not rule(item.get("value")):
            return f"bad value for {_key(dep)}"
    return None


def _changed_error(changed: Any) -> str | None:
    if not isinstance(changed, list) or len(changed) > MAX_CHANGED or not all(isinstance(c, str) for c in changed):
        return "changedPropIds must be a list of strings"
    return None
