"""What a customer says besides answering the question: how long they will be away ("me voy
seis meses"), that they are moving abroad, another operator by name, that they just want
to cancel at once ("solo quiero cancelar"), or that they ask for a pause ("¿puedo pausar la línea?").

Pure Python, no Rasa.
"""

from __future__ import annotations

import re

from bot.core.answer_signals import OPERATOR_NAMES, OTHER_OPERATOR_WORDS, signals
from bot.core.customer_text import normalise, phrase_pattern

_NUMBER_WORDS = {
    "un": 1, "una": 1, "uno": 1, "a": 1, "an": 1, "one": 1, "dos": 2, "two": 2, "tres": 3,
    "three": 3, "cuatro": 4, "four": 4, "cinco": 5, "five": 5, "seis": 6, "six": 6, "siete": 7,
    "seven": 7, "ocho": 8, "eight": 8, "nueve": 9, "nine": 9, "diez": 10, "ten": 10, "once": 11,
    "eleven": 11, "doce": 12, "twelve": 12, "un par de": 2, "a couple of": 2, "couple of": 2}
_DURATION = re.compile(
    r"(?<![a-z0-9])(\d{1,2}|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True))
    + r")\s+(mes|meses|month|months|semana|semanas|week|weeks|ano|anos|year|years)(?![a-z])")
_HALF_YEAR = re.compile(r"medio ano|half a year|six-month|6-month")


def stated_months(text: str) -> int | None:
    """How long the customer says they will be away ("me voy seis meses", "for 3 months")."""
    norm = normalise(text).replace("ñ", "n")
    if _HALF_YEAR.search(norm):
        return 6
    best: int | None = None
    for number, unit in _DURATION.findall(norm):
        n = int(number) if number.isdigit() else _NUMBER_WORDS[number]
        months = n * 12 if unit.startswith(("ano", "year")) else (
            max(1, -(-n // 4)) if unit.startswith(("semana", "week")) else n)
        best = max(best or 0, months)
    return best


_ABROAD = re.compile(phrase_pattern(
    "al extranjero|en el extranjero|fuera de espana|a otro pais|otro pais|fuera del pais|emigro|me voy a vivir fuera|"
    "abroad|overseas|another country|out of the country|leaving the country|leaving the uk|leaving spain"))


#: a move to a named country or a city abroad ("we're moving back to the UK for good", "me
#: traslado a Alemania"): the service cannot follow there either (walk finding: the assistant
#: offered to move the fibre "to your new home" in the UK)
_TO_A_COUNTRY = re.compile(
    r"(?<![a-z])(?:me voy|nos vamos|me mudo|nos mudamos|me traslado|nos trasladamos|vuelvo|volvemos|"
    r"me vuelvo|nos volvemos|regreso|regresamos|me marcho|nos marchamos|moving|move|moved|relocating|"
    r"relocate|going|heading|returning|go)(?:\s+(?:back|home|de vuelta|a vivir|to live))*\s+"
    r"(?:a|al|to|en)\s+(?:the\s+)?" + phrase_pattern(
        "uk|reino unido|inglaterra|england|escocia|scotland|wales|gales|ireland|irlanda|states|"
        "usa|estados unidos|eeuu|francia|france|alemania|germany|portugal|italia|italy|holanda|"
        "netherlands|paises bajos|belgica|belgium|suiza|switzerland|austria|suecia|sweden|noruega|"
        "norway|dinamarca|denmark|polonia|poland|rumania|romania|australia|canada|mexico|argentina|"
        "colombia|peru|chile|venezuela|ecuador|uruguay|paraguay|bolivia|brasil|brazil|cuba|"
        "marruecos|morocco|dubai|emiratos|china|japon|japan|india|londres|london|paris|berlin|"
        "lisboa|lisbon|roma|rome|nueva york|new york|miami|toronto|sidney|sydney"))


def moving_abroad(text: str) -> bool:
    """The customer is leaving the country ("me voy al extranjero", "moving abroad", "moving back
    to the UK"): the service cannot go with them to the new home."""
    norm = normalise(text).replace("ñ", "n")
    return bool(_ABROAD.search(norm) or _TO_A_COUNTRY.search(norm))


_OPERATORS = phrase_pattern(
    OPERATOR_NAMES, OTHER_OPERATOR_WORDS,
    "la competencia|otra empresa|another carrier|a competitor|the competition|switching to|"
    "me paso a|me cambio a|me voy a la competencia|me voy con")
_COMPETITOR = re.compile(_OPERATORS)
_FIRM = re.compile(phrase_pattern(
    "solo|simplemente|directamente|sin mas|de una vez|ya mismo|ahora mismo|ahora|ya|"
    "just|simply|straight away|right away|right now|now|asap|without offers|sin ofertas"))


def mentioned_reason(text: str) -> str | None:
    """A churn reason said in plain words the model may miss: another operator by name."""
    return "competitor" if _COMPETITOR.search(normalise(text)) else None


def firm_request(text: str) -> bool:
    """ "Solo quiero cancelar", "just cancel my contract": leaving at once, no talk wanted."""
    norm = normalise(text)
    return bool(_FIRM.search(norm)) and "cancel" in signals(text) and "stay" not in signals(text)


#: a stolen or lost phone, its SIM to be blocked (a person does it now: RetentionService.urgent_request)
SIM_BLOCK = re.compile(
    r"\b(robad[oa]|perdid[oa]|he perdido|me han robado|extraviad[oa]|stolen|lost|"
    r"bloque(a|ar|ad|ame)\b.{0,20}\bsim|block\b.{0,15}\bsim|suspend\b.{0,15}\b(sim|line))")


#: asking to pause the service, not to end it ("¿puedo pausar la línea tres meses?", "can you
#: freeze my account while I'm away?", "put my broadband on hold for the summer")
_PAUSE = re.compile(
    r"(?<![a-z])(?:pausar\w*|pausal[ao]s?|pausad[ao]s?|(?:en|una|un[ao]?) pausa|congel(?:ar|ad|e|en|a|o)\w*|"
    r"suspender\w*|suspenda\w*|suspension temporal|dejar(?:la|lo)? parad[ao]|"
    r"pause|pausing|paused|freeze|freezing|suspend|suspending|on hold)(?![a-z])")


def pause_request(text: str) -> bool:
    """The customer asks to pause the service: the pause is the offer, not the cancellation.

    Leaving said in the same message ("quiero la baja, no una pausa") and a stolen phone's SIM
    block are not a pause request.
    """
    norm = normalise(text)
    match = _PAUSE.search(norm)
    if (match is None or signals(text) & {"cancel_word", "stay", "other_thing"}
            or _FRAUD.search(norm) or SIM_BLOCK.search(norm)):
        return False
    return not _NOT_BEFORE.search(norm[:match.start()])  # "no quiero pausar nada"


#: "sospecho un fraude, congelad mi cuenta": a security freeze, not a pause of the service
_FRAUD = re.compile(r"fraud|fraude|estafa|hacke|pirate|no reconozco|don'?t recogni[sz]e|unauthori[sz]ed|"
                    r"sin autorizacion|suspicious|sospech|robad|robo|stolen|scam")
_NOT_BEFORE = re.compile(r"(?<![a-z])(?:no|not|don'?t|do not|nunca|never|ni)\s+(?:[a-z']+\s+){0,2}$")
