"""The dashboard's colours: the brand, the accent and one colour per outcome, shared by the login page,
the charts and the page components so that they match.
"""

from __future__ import annotations

BRAND = "#2b1b6b"
ACCENT = "#e2007a"
PALETTE = {"retained": "#2e9d5b", "cancelled": "#d1495b", "handed_off": "#edae49", "other": "#9aa5b1",
           "hot": "#e2007a", "cold": "#00798c", "really_saved": "#2e9d5b", "deflected": "#d1495b",
           "pending": "#edae49", "unverifiable": "#9aa5b1"}
