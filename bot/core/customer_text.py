"""Customer text as the answer and statement readers see it: normalised (lower case, no
accents, SMS shorthand spelt out), cut into clauses, and matched against lists of phrases.

Pure Python, no Rasa: the readers of ``bot.core.answers``, ``bot.core.answer_signals`` and
``bot.core.customer_statements`` and the plan-name matching of ``bot.core.plan_changes`` share it.
"""

from __future__ import annotations

import re

from bot.core.language import fold

#: SMS shorthand and phone spellings, word by word ("q" -> "que", "kiero" -> "quiero")
_SHORTHAND = {
    "q": "que", "ke": "que", "k": "que", "xq": "porque", "pq": "porque", "porq": "porque",
    "t": "te", "m": "me", "d": "de", "x": "por", "tb": "tambien", "tmb": "tambien", "dl": "del",
    "nse": "no se", "ns": "no se", "nc": "no se", "porfa": "por favor", "xfa": "por favor",
    "pls": "please", "plz": "please", "u": "you", "ur": "your", "im": "i'm", "dont": "don't",
    "wont": "won't", "cant": "can't", "ill": "i'll", "wanna": "want to", "gonna": "going to",
    "ok": "ok", "okey": "ok", "vl": "vale", "bn": "bien", "tgo": "tengo", "kier": "quiero",
}


#: English words the Spanish "k" for "qu" must leave alone ("keep" is not "queep")
_ENGLISH_K = frozenset("""keep keeps keeping kept key keys kid kids kind kinda kindly kill kills
    killing kit kitchen kick kicked king kiss kilo kilometre kilometer kettle kebab kelly kevin
    kenny kerry ken kent kieran""".split())


def normalise(text: str) -> str:
    """Lower case, no accents, letters repeated three times or more squeezed ("siiii" -> "si"),
    SMS shorthand spelt out ("q" -> "que", "kiero" -> "quiero", "kitar" -> "quitar")."""
    text = fold(text or "")
    text = re.sub(r"([a-z])\1{2,}", r"\1", text)
    text = text.replace("’", "'")
    words = re.sub(r"\s+", " ", text).strip().split(" ")
    if len(words) > 1:
        words = [_SHORTHAND.get(w, w if w in _ENGLISH_K else re.sub(r"^k(?=[ie])", "qu", w)) for w in words]
    text = " ".join(words)
    text = re.sub(r"\bno (que)\b", r"no, \1", text)  # "que no que quiero la baja": two clauses
    return re.sub(r"\s+", " ", text).strip()


def phrase_pattern(*phrases: str) -> str:
    """An alternation of phrases, matched on word boundaries; spaces match any gap."""
    parts = sorted({p.strip() for group in phrases for p in group.split("|") if p.strip()},
                   key=len, reverse=True)
    return r"(?<![a-z0-9])(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in parts) \
        + r")(?![a-z0-9])"


# Where one clause of a message ends and the next begins: punctuation and conjunctions.
_CLAUSE = re.compile(r"[,.;:!?¿¡]|\b(?:pero|but|aunque|though|although|y|and|porque|because|xq|pq)\b")


def clauses(text: str) -> list[str]:
    parts = _CLAUSE.split(text)
    return [p.strip() for p in parts if p and p.strip()]
