"""Misspelt copies of training utterances, the way people type on a phone.

Customers write "kiero darme d baja", "cancelr mi cuneta", "cancel my acount pls": dropped,
doubled, swapped and neighbouring-key letters, no capitals, no punctuation. The NLU training
data has some of that written by hand; ``TypoAugmenter`` (bot/nlu/components.py) can add one
machine-misspelt copy of every training example, so the classifier learns that a misspelt
word still means the same. It is an option measured by ``make benchmark``
(benchmarks/typo_copies_config.yml), not part of config.yml: docs/benchmarks.md says why.
Deterministic: the same seed gives the same copies, so a training is reproducible.
"""

from __future__ import annotations

import random

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
#: letters next to each letter on a QWERTY keyboard row (the Spanish layout has the same rows)
NEIGHBOURS: dict[str, str] = {
    ch: (row[i - 1] if i else "") + (row[i + 1] if i + 1 < len(row) else "")
    for row in _ROWS for i, ch in enumerate(row)
}
PUNCTUATION = frozenset(".,;:!?'¿¡\"")


def misspell(text: str, rng: random.Random, chars_per_edit: int = 12) -> str:
    """One misspelt variant of ``text``: about one letter edit per ``chars_per_edit`` characters.

    Mostly lower-cased and often without punctuation, as in SMS. Only letters are edited
    (deleted, doubled, swapped with the next character, or replaced by a keyboard neighbour);
    digits, spaces and very short texts (under four characters) are left as they are.
    """
    if chars_per_edit < 1:
        raise ValueError(f"chars_per_edit must be at least 1, not {chars_per_edit!r}")
    if rng.random() < 0.7:
        text = text.lower()
    if rng.random() < 0.6:
        text = "".join(ch for ch in text if ch not in PUNCTUATION)
    chars = list(text)
    for _ in range(max(1, len(chars) // chars_per_edit)):
        if len(chars) < 4:
            break
        i = rng.randrange(len(chars))
        op, ch = rng.random(), chars[i]
        if not ch.isalpha():
            continue
        if op < 0.3:
            del chars[i]
        elif op < 0.55 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op < 0.75:
            chars.insert(i, ch)
        elif NEIGHBOURS.get(ch.lower()):
            chars[i] = rng.choice(NEIGHBOURS[ch.lower()])
    return "".join(chars)
