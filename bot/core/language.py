"""Language of a customer message: Spanish, English, another language, or undecided.

Short messages ("ok", "yes", "1", an emoji) carry too little signal for a statistical
detector, so a small lexicon of frequent words of each language (accents stripped, SMS
shorthand included) decides first; the `lingua` detector decides longer messages and
recognises other languages. Undecided messages keep the conversation's language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

LANGUAGES: tuple[str, ...] = ("es", "en")  # the languages the assistant speaks, first the default

# Frequent words that are unambiguous between Spanish and English (SMS shorthand included).
_ES = set("""
    quiero kiero quisiera queria quería darme dar baja bajas cancelar anular rescindir cerrar cuenta
    de del la las el los que q k porque xq pq por para con sin una uno unos unas mi mis tu su
    es esta está estoy estais sois son muy mucho mas más caro cara barato precio tarifa factura
    cobrado cobraron cobrais cobráis dos veces hola buenas buenos dias días tardes noches gracias
    vale si sí claro acuerdo vale vaaale nada tambien también pero ya ahora mismo donde cuando
    como cómo quien quién eso esto hablar persona agente ayuda ayudame ayúdame servicio fibra
    linea línea movil móvil tele contrato me mudo voy irme dejar compañia compañía otra otro
    luz dinero paro trabajo nadie contesta funciona funciona va lento cae caido caído semana mes
    meses año años hace tengo tienes tiene puedo puedes podeis podéis necesito favor porfa pls
    ns nose sé se gracias grasias adios adiós hasta luego eres robot bot oferta ofertas descuento
    acepto aceptar prefiero mejor peor hay estoy estamos hijo casa verano viaje vacaciones
    lo le les apenas utilizo utilizar uso usar usamos poco poca casi nunca siempre dejo pago pagar
    pagando demasiado demasiada sirve roto rota averia avería cobertura llamada mudanza piso
""".split())
_EN = set("""
    i i'm im want wanna would like to the a an my your you u ur is are was were it it's its this
    that cancel cancellation close terminate end stop quit leave unsubscribe account subscription
    service plan please pls plz thanks thank thx ty hi hello hey yes yeah yep sure okay ok deal
    no nope not don't dont do does did have has had too expensive cheap price bill charged twice
    twice why what when where who how can could should will just now right away talk speak human
    agent person help moving move abroad job lost afford money internet broadband phone line
    contract membership get rid of keep going switching switch competitor offer offers discount
    accept better worse never always using use used anymore any more bye goodbye later are you
    bot robot of for with without from but and or because cuz coz bc since already
""".split())
_SHARED = {"no", "me", "bot", "robot", "plan", "internet", "ok", "pls", "a", "de"}
_ES -= _SHARED
_EN -= _SHARED

_WORD = re.compile(r"[a-zA-Z\u00C0-\u024F']+")


@dataclass(frozen=True)
class Detection:
    """``language`` is "es"/"en" or None (undecided); ``other`` names a foreign language."""

    language: Optional[str]
    confidence: float
    other: Optional[str] = None


def fold(text: str) -> str:
    """Case and accents aside, the one way every module compares words: "Sí" is "si"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _detector():  # type: ignore[no-untyped-def]
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(
        Language.SPANISH, Language.ENGLISH, Language.FRENCH, Language.GERMAN, Language.ITALIAN,
        Language.PORTUGUESE,
    ).with_preloaded_language_models().build()


_LINGUA_CODES = {"SPANISH": "es", "ENGLISH": "en", "FRENCH": "fr", "GERMAN": "de",
                 "ITALIAN": "it", "PORTUGUESE": "pt"}
_ES_ACCENTS = set("ñ¿¡áéíóú")


def detect(text: str) -> Detection:
    """Detect the language of one message."""
    if not text or not text.strip():
        return Detection(None, 0.0)
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return Detection(None, 0.0)
    plain = [fold(w) for w in words]
    es_hits = sum(1 for w, p in zip(words, plain) if w in _ES or p in _ES)
    en_hits = sum(1 for w in words if w in _EN)
    if any(ch in _ES_ACCENTS for ch in text.lower()):
        es_hits += 1
    lexicon_total = es_hits + en_hits

    if len(words) >= 3:
        values = _detector().compute_language_confidence_values(text)
        top = values[0]
        code = _LINGUA_CODES.get(top.language.name)
        # A foreign language wins only when the lexicon finds (almost) no Spanish or English.
        if code not in LANGUAGES and top.value >= 0.6 and lexicon_total <= 1:
            return Detection(None, float(top.value), other=code)
        if code in LANGUAGES and top.value >= 0.75 and (lexicon_total == 0 or (
                (code == "es") == (es_hits >= en_hits))):
            return Detection(code, float(top.value))

    if lexicon_total and es_hits != en_hits:
        lang = "es" if es_hits > en_hits else "en"
        return Detection(lang, max(es_hits, en_hits) / lexicon_total)
    return Detection(None, 0.0)


def pick(text: str, previous: Optional[str], default: str = "es") -> str:
    """The language to answer in: the detected one, else the conversation's, else Spanish."""
    found = detect(text).language
    return found or previous or default
