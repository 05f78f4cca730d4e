"""A conversation's transcript for supervisors and agents: ``GET /conversations/<id>``.

Handoff tickets link here (``bot.core.handoff``), so that the person who takes over reads what the
customer said before answering. Read from Rasa's tracker store (read-only), oldest first: the
customer's messages and the assistant's replies with their time. Phone numbers in the texts
are masked like everywhere else in the dashboard.
"""

from __future__ import annotations

import html
from typing import Any

from analytics.tracker_store import TranscriptLine


def render(conversation_id: str, lines: list[TranscriptLine], mask: Any) -> str:
    """The page: one row per message (``analytics.tracker_store.transcript``), texts passed through ``mask``."""
    esc = html.escape
    rows = "".join(
        f"<tr class='{line.speaker}'><td>{line.at:%Y-%m-%d %H:%M:%S} UTC</td>"
        f"<td>{'Cliente' if line.speaker == 'user' else 'Asistente'}</td>"
        f"<td>{esc(mask(line.text))}</td></tr>" for line in lines if line.at is not None)
    return ("<!doctype html><html lang='es'><head><meta charset='utf-8'>"
            f"<title>Conversación {esc(conversation_id)} · Nubia</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2rem}td{padding:.3rem .6rem;vertical-align:top}"
            "tr.user td{background:#f3f0ff}</style></head><body>"
            f"<h1>Conversación <code>{esc(conversation_id)}</code></h1>"
            f"<p><a href='/'>Volver al panel</a></p><table>{rows}</table></body></html>")
