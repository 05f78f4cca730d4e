"""The kinds of words an answer is made of (yes, no, stay, cancel, leave, undecided, undo, a
person), found clause by clause with their negation ("no quiero cancelar" is staying, "no me
quedo" is leaving) and hedges ("no sé si cancelar" is undecided, never yes): :func:`signals`.

Pure Python, no Rasa: ``bot.core.answers`` reads an answer from these signals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.customer_text import clauses, normalise, phrase_pattern

# Each pattern is matched against the normalised text. "si" alone is ambiguous in Spanish
# ("sí" yes / "si" if): it is a yes only at the start of a clause (see _yes_si).
_YES = re.compile(phrase_pattern(
    "vale|venga|claro|ok|okay|okey|oki|okis|dale|adelante|hecho|perfecto|de acuerdo|por supuesto|"
    "acepto|lo acepto|la acepto|aceptada|aceptado|me interesa|me vale|me parece bien|genial|"
    "estupendo|guay|bueno vale|va|sip|sii|si por favor|si porfa|me lo quedo|me la quedo|"
    "hazlo|haz lo|tramitalo|tramitala|aplicalo|aplicamelo|apuntame|apuntamelo|por que no|"
    "que si|pues si|claro que si|si si|si me interesa|si me vale|si me parece bien|si lo quiero|"
    "si la quiero|si por favor|me quedo con eso|me quedo con esa|me quedo con la oferta|"
    "me quedo con el descuento|me quedo con ella|me quedo con esto|i'll take that|i'll have it|"
    "yes|yeah|yea|yep|yup|sure|fine|deal|go ahead|go on|do it|please do|alright|all right|"
    "sounds good|sounds great|why not|let's do it|lets do it|i'll take it|ill take it|proceed|process it|"
    "i accept|accept|absolutely|definitely|of course|great|perfect|cool|k|kk|y|s|"
    "👍|👌"))
_NO = re.compile(phrase_pattern(
    "no|nop|nope|noo|nah|na|ni hablar|para nada|en absoluto|paso|tampoco|mejor no|que no|"
    "no gracias|no thanks|no thank you|not interested|no me interesa|no interesa|nunca|never|"
    "negative|n|👎"))
_STAY = re.compile(phrase_pattern(
    "me quedo|me quedare|sigo|seguir|quiero seguir|seguire|sigo igual|sigo como estoy|sigo con vosotros|"
    "de momento sigo|me quedo como estoy|me quedo asi|lo dejo como esta|dejalo como esta|"
    "dejadlo como esta|dejalo asi|dejalo igual|seguir igual|seguir como estoy|seguir con vosotros|"
    "mantener|mantengo|lo mantengo|continuar|continuo|olvidalo|olvidate|da igual dejalo|"
    "i'll stay|ill stay|i will stay|i'd rather stay|stay|staying|keep it|keep my service|"
    "keep everything|keep it as it is|leave it as it is|leave it|as i am|as it is|as things are|"
    "i'll keep|ill keep|i will keep|keep the service|never mind|nevermind|forget it|forget about it|"
    "carry on as|continue as"))
_CANCEL = re.compile(phrase_pattern(
    "cancela|cancelalo|cancelala|cancelar|cancelad|cancelame|cancelarlo|cancelacion|cancelo|"
    "cancelen|canceleis|canceles|cancele|deis de baja|des de baja|den de baja|"
    "tramita la baja|tramitala|tramitame la baja|tramitad la baja|tramitar la baja|la tramites|"
    "tramites la baja|tramitadla|tramitemela|hazme la baja|haz la baja|procesa la baja|"
    "quiero la baja de todo|la baja ya|dar de baja|darle de baja|me doy de baja|nada de ofertas|"
    "dame de baja|darme de baja|dadme de baja|doy de baja|me doy de baja|quiero la baja|la baja|"
    "baja ya|de baja|dejarlo todo|"
    "rescindir|rescinde|cerrar la cuenta|cierra la cuenta|cierra mi cuenta|"
    "cancel|cancel it|cancel me|cancelled|canceled|cancelling|canceling|cancellation|terminate|terminate it|"
    "close my account|close the account|close it|shut it down|end it|end my contract|"
    "end the contract|i want out|i'm out|im out|"
    "quit|unsubscribe"))
# Saying one is leaving ("me voy a o2", "I'm leaving"): a wish to cancel, but at the reason
# question it is the reason being told, not a request to process the cancellation now.
_LEAVE = re.compile(phrase_pattern(
    "me voy|me quiero ir|irme|me piro|quiero irme|dejaros|me marcho|me largo|"
    "i'm leaving|im leaving|leave|leaving|i'm going|switching"))
_UNDECIDED = re.compile(phrase_pattern(
    "no se|nose|ns|no lo se|nose que|me lo pienso|me lo pensare|me lo voy a pensar|lo pienso|"
    "pensarlo|pensarmelo|lo tengo que pensar|tengo que pensarlo|tengo que pensarmelo|"
    "dejame pensarlo|dejame pensar|deja que lo piense|lo consulto|tengo que consultarlo|"
    "quiza|quizas|quizás|tal vez|puede|puede ser|a lo mejor|ya veremos|ya os digo|ya te digo|"
    "ya os cuento|ya te cuento|luego te digo|luego os digo|manana te digo|depende|no estoy seguro|"
    "lo tengo que hablar|tengo que hablarlo|lo hablo con|lo tengo que consultar|consultarlo con|"
    "te digo algo|os digo algo|ya lo vere|lo mirare|i'll let you know|let you know|"
    "talk to my wife|talk to my husband|talk to my partner|check with my|ask my|"
    "hold on|not yet|wait|espera|un momento|todavia no|aun no|maybe later|"
    "no estoy segura|no lo tengo claro|no lo tengo tan claro|igual si|mmm|hmm|ehh|"
    "maybe|perhaps|not sure|unsure|i don't know|i dont know|dont know|don't know|dunno|idk|"
    "let me think|i'll think|ill think|think about it|think it over|need to think|"
    "i need time|give me time|get back to you|we'll see|well see|possibly|not yet|undecided|"
    "i'm torn|im torn|hard to say|no idea|me lo estoy pensando|lo estoy pensando|me lo estoy planteando|"
    "lo estoy valorando|i'm thinking about it|im thinking about it|thinking about it|considering it"))
_UNDO = re.compile(phrase_pattern(
    "anula la baja|anular la baja|anulad la baja|anulame la baja|cancela la baja|cancelar la baja|"
    "quita la baja|retira la baja|retirar la baja|deshaz la baja|deshacer la baja|deshacerla|"
    "reactivad|reactiva|reactivar|reactivame|reactivadme|me he liado|vuelve a activar|"
    "no quiero darme de baja ya|al final no me doy de baja|al final me quedo|undo that|can you undo|"
    "keep my service after all|i want to stay after all|i want to keep my service|"
    "me he arrepentido|me arrepiento|he cambiado de opinion|cambie de opinion|cambio de opinion|"
    "ya no quiero la baja|ya no quiero darme de baja|no quiero la baja|"
    "undo|undo it|undo the cancellation|reverse the cancellation|revert|reverse it|"
    "cancel the cancellation|cancel my cancellation|changed my mind|change my mind|"
    "i've changed my mind|reinstate|reactivate|don't want to leave anymore|"
    "dont want to leave anymore|don't want to cancel anymore|dont want to cancel anymore"))
_HUMAN = re.compile(phrase_pattern(
    "persona|una persona|humano|un humano|agente|un agente|operador|operadora|alguien de verdad|"
    "human|a human|a person|real person|agent|an agent|representative|operator|someone real|"
    "speak to someone|talk to someone"))
# Phrases with a "no" that is not an answer ("no me hagas repetirlo", "no problem").
_NOT_NO = re.compile(phrase_pattern(
    "no me hagas repetirlo|no me hagas repetir|no me lo hagas repetir|no te lo repito|no problem|"
    "no worries|no hay problema|no pasa nada|ni idea|no doubt|sin duda|no lo dudes"))


@dataclass(frozen=True)
class _Hit:
    kind: str
    negated: bool
    hedged: bool
    initial_negator: bool = False  # negated by a "no" that opens the clause ("no me quedo")
    considered: bool = False  # thought about, not decided: "estoy pensando en darme de baja"


# "sigo sin internet" is a complaint, not staying: such phrases are removed before reading.
_NOT_STAY = re.compile(phrase_pattern(
    "sigo sin|sigo con problemas|sigo con el problema|sigo teniendo|sigo esperando|sigo pagando|"
    "seguir pagando|seguir esperando|sigo igual de mal|still waiting|still paying|still without"))


#: words that may stand between a negator and what it negates ("no QUIERO QUE ME des de baja",
#: "I DON'T WANT TO cancel"); anything else ends its reach ("no, I SAID cancel it")
_FILLERS = frozenset("""lo la le les me te se nos os quiero queremos quiere voy vamos va a de que
    el mi tu su want to do i it really realmente going will would me you the my please por favor
    ya tan mas des deis den de hagas hagais hagan tramites tramiteis tramiten cancelen canceleis
    canceles cancele demos me""".split())


def _negator_at(clause: str, start: int) -> int | None:
    """The index (in words) of the negator whose reach covers the phrase at ``start``, if any."""
    words = clause[:start].split()
    for i in range(len(words) - 1, max(-1, len(words) - 7), -1):
        word = words[i]
        if word in ("no", "not", "don't", "never", "nunca", "ni", "tampoco", "won't", "can't"):
            return i if all(w in _FILLERS for w in words[i + 1:]) else None
        if word not in _FILLERS:
            return None
    return None


_YES_LEADS = frozenset({"vale", "venga", "claro", "pues", "bueno", "que", "ok", "yes", "yeah"})


def _hedged(clause: str, start: int) -> bool:
    """A phrase asked about, not decided: "no sé si cancelar", "whether to leave", "should I"."""
    before = clause[:start].split()
    if re.search(r"\b(whether|should i|deberia|o no|or not)\b", " ".join(before[-3:])):
        return True
    for j in range(len(before) - 1, max(-1, len(before) - 3), -1):
        if before[j] == "if":
            return True
        if before[j] == "si":  # "vale venga si me interesa" is a yes, "no se si cancelar" a hedge
            return j > 0 and before[j - 1] not in _YES_LEADS
    return False


#: words before a cancel or leave phrase that make it something considered, not decided
_CONSIDERING = re.compile(phrase_pattern(
    "pensando en|pensado en|planteando|plantearme|planteo|considerando|valorando|me lo planteo|"
    "thinking of|thinking about|considering|might|tempted to|wondering about"))


def _considered(clause: str, start: int) -> bool:
    """"Estoy pensando en darme de baja", "I might cancel": leaving thought of, not asked for."""
    return bool(_CONSIDERING.search(" ".join(clause[:start].split()[-4:])))


def _hits(clause: str) -> list[_Hit]:
    """Every phrase found, longest first across kinds ("me quedo con eso" is a yes, not
    "me quedo"), with negation and hedging applied."""
    found: list[tuple[int, int, str]] = []
    leading_si = _yes_si(clause)
    for kind, pattern in (("undo", _UNDO), ("undecided", _UNDECIDED), ("stay", _STAY),
                          ("cancel", _CANCEL), ("leave", _LEAVE), ("human", _HUMAN), ("no", _NO),
                          ("yes", _YES), ("not_no", _NOT_NO)):
        for m in pattern.finditer(clause):
            found.append((m.start(), m.end(), kind))
    found.sort(key=lambda f: (-(f[1] - f[0]), f[0]))
    taken: list[tuple[int, int]] = [(0, len(clause.split()[0]))] if leading_si else []
    out: list[_Hit] = []
    kept: list[tuple[int, int, str]] = []
    negators: set[int] = set()
    for start, end, kind in found:
        if any(start < e and s < end for s, e in taken):
            continue  # inside a longer phrase already read ("no se" is not "no")
        taken.append((start, end))
        if kind == "not_no":
            continue
        if kind == "yes" and clause[start:end] in ("y", "s", "k", "va") and len(clause.split()) > 2:
            continue  # one-letter words inside a sentence are not a yes
        kept.append((start, end, kind))
        negator = _negator_at(clause, start) if kind not in ("no", "undecided", "undo") else None
        hedged = kind in ("stay", "cancel", "leave", "yes") and not leading_si and _hedged(clause, start)
        considered = kind in ("cancel", "leave") and _considered(clause, start)
        out.append(_Hit(kind, negator is not None, hedged or considered, initial_negator=negator == 0,
                        considered=considered))
        if negator is not None:
            negators.add(len(" ".join(clause[:start].split()[:negator])) + (1 if negator else 0))
    # a "no" that negates what follows ("no quiero cancelar") is not an answer "no"
    out = [h for h, (s, _, k) in zip(out, kept) if not (k == "no" and s in negators)]
    if leading_si:
        out.append(_Hit("yes", False, False))
    return out


def _yes_si(clause: str) -> bool:
    """A Spanish "sí" written without accent: at the start of the clause or alone."""
    words = clause.split()
    return bool(words) and words[0] in ("si", "sip", "sii", "sí") and (
        len(words) == 1 or words[1] not in ("es", "no", "me", "te", "lo", "la", "quiero", "puedo",
                                            "cancelo", "tengo", "hay", "pudiera"))


# A question about when the contract or the commitment ends is not a wish to leave.
_CONTRACT_END = re.compile(
    r"(cuando|hasta cuando|que dia|que fecha|fecha)\b.{0,30}\b(termina|acaba|vence|finaliza|expira|"
    r"fin)\b.{0,20}\b(contrato|permanencia|compromiso)|"
    r"\b(cuando|hasta cuando)\b.{0,15}\b(tengo|me queda|dura)\b.{0,10}\bpermanencia|"
    r"\bwhen\b.{0,25}\b(contract|commitment|minimum term)\b.{0,20}\b(end|ends|expire|expires|finish|over|up)\b|"
    r"\bwhen\b.{0,10}\b(does|do|will)\b.{0,10}\b(my )?(contract|commitment)\b|"
    r"\b(end|expiry) date of my (contract|commitment)\b")
# Something else is named as what to cancel ("cancela el pedido", "cancel my order"): a
# look-alike, never the service.
_OBJECT = re.compile(phrase_pattern(
    "pedido|el pedido|la cita|la visita|visita|tecnico|el tecnico|pago|el pago|transferencia|"
    "recibo|domiciliacion|reserva|suscripcion a la newsletter|newsletter|tarjeta|la tarjeta|"
    "order|my order|the order|appointment|visit|technician|payment|the payment|transfer|"
    "booking|reservation|direct debit|newsletter|card|my card|the card|meeting"))


# A yes that comes with a condition, a question or a "first tell me": not yet a yes to act on.
_QUALIFIED_YES = re.compile(
    r"\b(siempre que|solo si|only if|as long as|provided|con tal de|dime|digame|dimelo|tell me|"
    r"explain|explicame|quiero saber|want to know|cuanto|how much|catch|trampa|letra pequena|"
    r"small print|fine print|que pasa si|what happens|what if|y si)\b")


def signals(text: str) -> frozenset[str]:
    """The kinds of words found, with negation applied: a negated stay is a cancel and back."""
    norm = _NOT_STAY.sub(" ", normalise(text))
    found: set[str] = set()
    for clause in clauses(norm) or [norm]:
        for hit in _hits(clause):
            kind = hit.kind
            if hit.negated:
                # "ya no quiero seguir" leaves; but "no me quedo" opening the answer cannot be
                # told from "no, me quedo" in a transcript without commas: unsure, never a cancel
                kind = {"stay": "not_stay_initial" if hit.initial_negator else "not_stay",
                        "cancel": "stay", "leave": "stay", "yes": "no", "human": ""}.get(kind, kind)
            if hit.considered and not hit.negated:
                found.add("considering")  # still someone who spoke of leaving
            if hit.hedged and kind in ("cancel", "leave", "stay", "yes"):
                kind = "undecided"
            if kind == "leave":
                found.add("leave")
                kind = "cancel_said"
            elif kind == "cancel":
                found.add("cancel_word")
            if kind == "cancel_said":
                kind = "cancel"
            if kind:
                found.add(kind)
    if "not_stay" in found:  # "ya no quiero seguir": leaving, unless a yes or no says otherwise
        found.discard("not_stay")
        found.add("undecided" if found & {"yes", "no"} and "cancel" not in found else "cancel")
    if "not_stay_initial" in found:
        found.discard("not_stay_initial")
        if "cancel" not in found:
            found.add("undecided")
    if _CONTRACT_END.search(norm):
        found.add("contract_end")
    if _OBJECT.search(norm):
        found.add("object")
    if "yes" in found and re.search(r"\b(?:pero|but)\b", norm):
        tail = re.split(r"\b(?:pero|but)\b", norm, maxsplit=1)[1]
        tail_kinds = {h.kind if not h.negated else "no" for h in _hits(tail)}
        if not re.sub(r"\W+", "", tail) or tail_kinds & {"no", "undecided", "cancel", "stay"}:
            found.add("undecided")  # "vale, pero no sé", "ok but no", a trailing "vale, pero..."
    if "yes" in found and (_QUALIFIED_YES.search(norm) or "?" in text):
        found.add("conditional")  # "sí, pero antes dime si hay penalización", "yes but what's the catch?"
    return frozenset(found)

