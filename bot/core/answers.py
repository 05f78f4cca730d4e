"""Read a customer's answer against the question the assistant just asked.

A context-free intent model reads "no, I'll stay for now" as wanting to cancel and "sí, hazlo"
as nothing in particular; a person reads both against the question. This module does what the
person does: given the question (:class:`Question`) and the text, it says what the answer means
(:class:`Answer`), in Spanish or English, in chat, SMS shorthand or voice transcripts.

It looks for the few kinds of words an answer to a yes/no or offer question is made of (yes,
no, stay, cancel, undecided, undo, a person, dropping one service) with their negation ("no
quiero cancelar" is staying, "no me quedo" is leaving) and hedges ("no sé si cancelar" is
undecided, never yes). Nothing here changes an account: the retention rules decide what each
answer does, and only an unambiguous answer may lead to an irreversible action.

Pure Python, no Rasa: the action server, tests and tools use it alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from bot.core.language import fold


class Question(str, Enum):
    """What the assistant asked; each expects its own kind of answer."""

    OPEN = "open"                      # no question pending (a first message)
    CONFIRM_CANCEL = "confirm_cancel"  # "shall I process the cancellation now?"
    OFFER = "offer"                    # "would you like this offer?"
    REASON = "reason"                  # "what is the main reason?"
    PLAN_CHANGE = "plan_change"        # "shall I change you to plan X for N EUR?"
    PLAN_CHOICE = "plan_choice"        # "which of these plans would you like?"
    WINBACK = "winback"                # a win-back offer sent by SMS


class Answer(str, Enum):
    YES = "yes"
    NO = "no"
    STAY = "stay"              # keep the service as it is
    CANCEL = "cancel"          # cancel now (insisting)
    UNDECIDED = "undecided"    # "me lo pienso", "not sure": never a yes
    UNDO = "undo"              # undo a cancellation already processed
    PARTIAL = "partial"        # drop one service of a bundle, keep the rest
    HUMAN = "human"            # wants a person
    UNCLEAR = "unclear"        # none of the above


#: services of a bundle a customer may drop on their own
SERVICES = ("mobile", "tv", "fibre")


@dataclass(frozen=True)
class Reading:
    answer: Answer
    drop: Optional[str] = None  # for PARTIAL: the service to remove ("mobile", "tv", "fibre")
    signals: frozenset[str] = field(default_factory=frozenset)


#: SMS shorthand and phone spellings, word by word ("q" -> "que", "kiero" -> "quiero")
_SHORTHAND = {
    "q": "que", "ke": "que", "k": "que", "xq": "porque", "pq": "porque", "porq": "porque",
    "t": "te", "m": "me", "d": "de", "x": "por", "tb": "tambien", "tmb": "tambien", "dl": "del",
    "nse": "no se", "ns": "no se", "nc": "no se", "porfa": "por favor", "xfa": "por favor",
    "pls": "please", "plz": "please", "u": "you", "ur": "your", "im": "i'm", "dont": "don't",
    "wont": "won't", "cant": "can't", "ill": "i'll", "wanna": "want to", "gonna": "going to",
    "ok": "ok", "okey": "ok", "vl": "vale", "bn": "bien", "tgo": "tengo", "kier": "quiero",
}


def normalise(text: str) -> str:
    """Lower case, no accents, letters repeated three times or more squeezed ("siiii" -> "si"),
    SMS shorthand spelt out ("q" -> "que", "kiero" -> "quiero", "kitar" -> "quitar")."""
    text = fold(text or "")
    text = re.sub(r"([a-z])\1{2,}", r"\1", text)
    text = text.replace("’", "'")
    words = re.sub(r"\s+", " ", text).strip().split(" ")
    if len(words) > 1:
        words = [_SHORTHAND.get(w, re.sub(r"^k(?=[ie])", "qu", w)) for w in words]
    text = " ".join(words)
    text = re.sub(r"\bno (que)\b", r"no, \1", text)  # "que no que quiero la baja": two clauses
    return re.sub(r"\s+", " ", text).strip()


def _words(*phrases: str) -> str:
    """An alternation of phrases, matched on word boundaries; spaces match any gap."""
    parts = sorted({p.strip() for group in phrases for p in group.split("|") if p.strip()},
                   key=len, reverse=True)
    return r"(?<![a-z0-9])(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in parts) \
        + r")(?![a-z0-9])"


# Each pattern is matched against the normalised text. "si" alone is ambiguous in Spanish
# ("sí" yes / "si" if): it is a yes only at the start of a clause (see _yes_si).
_YES = re.compile(_words(
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
_NO = re.compile(_words(
    "no|nop|nope|noo|nah|na|ni hablar|para nada|en absoluto|paso|tampoco|mejor no|que no|"
    "no gracias|no thanks|no thank you|not interested|no me interesa|no interesa|nunca|never|"
    "negative|n|👎"))
_STAY = re.compile(_words(
    "me quedo|me quedare|sigo|seguir|quiero seguir|seguire|sigo igual|sigo como estoy|sigo con vosotros|"
    "de momento sigo|me quedo como estoy|me quedo asi|lo dejo como esta|dejalo como esta|"
    "dejadlo como esta|dejalo asi|dejalo igual|seguir igual|seguir como estoy|seguir con vosotros|"
    "mantener|mantengo|lo mantengo|continuar|continuo|olvidalo|olvidate|da igual dejalo|"
    "i'll stay|ill stay|i will stay|i'd rather stay|stay|staying|keep it|keep my service|"
    "keep everything|keep it as it is|leave it as it is|leave it|as i am|as it is|as things are|"
    "i'll keep|ill keep|i will keep|keep the service|never mind|nevermind|forget it|forget about it|"
    "carry on as|continue as"))
_CANCEL = re.compile(_words(
    "cancela|cancelalo|cancelala|cancelar|cancelad|cancelame|cancelarlo|cancelacion|cancelo|"
    "cancelen|canceleis|canceles|cancele|deis de baja|des de baja|den de baja|"
    "tramita la baja|tramitala|tramitame la baja|tramitad la baja|tramitar la baja|la tramites|"
    "tramites la baja|tramitadla|tramitemela|hazme la baja|haz la baja|procesa la baja|"
    "quiero la baja de todo|la baja ya|dar de baja|darle de baja|me doy de baja|nada de ofertas|"
    "dame de baja|darme de baja|dadme de baja|doy de baja|me doy de baja|quiero la baja|la baja|"
    "baja ya|de baja|dejarlo todo|"
    "rescindir|rescinde|cerrar la cuenta|cierra la cuenta|cierra mi cuenta|"
    "cancel|cancel it|cancel me|cancelled|canceled|cancellation|terminate|terminate it|"
    "close my account|close the account|close it|shut it down|end it|end my contract|"
    "end the contract|i want out|i'm out|im out|"
    "quit|unsubscribe"))
# Saying one is leaving ("me voy a o2", "I'm leaving"): a wish to cancel, but at the reason
# question it is the reason being told, not a request to process the cancellation now.
_LEAVE = re.compile(_words(
    "me voy|me quiero ir|irme|me piro|quiero irme|dejaros|me marcho|me largo|"
    "i'm leaving|im leaving|leave|leaving|i'm going|switching"))
_UNDECIDED = re.compile(_words(
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
    "i'm torn|im torn|hard to say|no idea"))
_UNDO = re.compile(_words(
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
_HUMAN = re.compile(_words(
    "persona|una persona|humano|un humano|agente|un agente|operador|operadora|alguien de verdad|"
    "human|a human|a person|real person|agent|an agent|representative|operator|someone real|"
    "speak to someone|talk to someone"))
_SERVICE_WORDS = {
    "mobile": re.compile(_words("movil|el movil|la linea movil|linea movil|linea del movil|"
                                "celular|el celular|linea del celular|linea celular|"
                                "moviles|mobile|the mobile|mobile line|phone line|cell|cell line|"
                                "sim|the sim|mobile plan")),
    "tv": re.compile(_words("tele|la tele|tv|la tv|television|the tv|the television|"
                            "tv package|paquete de tv|paquete de television")),
    "fibre": re.compile(_words("fibra|la fibra|internet|wifi|el internet|the fibre|the fiber|"
                               "fiber|fibre|broadband|home internet")),
}
_REMOVE = re.compile(_words(
    "quitar|quitame|quita|quitad|quitarme|eliminar|elimina|eliminame|suprimir|prescindir|"
    "dar de baja|darme de baja|dame de baja|baja del|baja de la|cancelar|cancela|cancelame|"
    "sin|no necesito|no uso|no quiero|sobra|me sobra|"
    "drop|remove|cancel|get rid of|take off|take the tv off|take tv off|take the mobile off|"
    "without|don't need|dont need|don't use|dont use|"
    "no longer need"))
_KEEP = re.compile(_words(
    "solo|solamente|nada mas|nomas|unicamente|me quedo|me la quedo|me lo quedo|quedarme|mantener|"
    "mantengo|seguir con|el resto|lo demas|lo otro|"
    "only|just|keep|keeping|the rest|everything else|rest of"))
# Phrases with a "no" that is not an answer ("no me hagas repetirlo", "no problem").
_NOT_NO = re.compile(_words(
    "no me hagas repetirlo|no me hagas repetir|no me lo hagas repetir|no te lo repito|no problem|"
    "no worries|no hay problema|no pasa nada|ni idea|no doubt|sin duda|no lo dudes"))
# Negators that flip a phrase within the next few words ("no quiero cancelar", "don't cancel").
_NEGATOR = re.compile(_words("no|not|don't|dont|do not|never|nunca|ni|tampoco|ya no|no quiero|"
                             "no voy a|i won't|i wont|won't|wont"))
# Hedges that make the next phrase a question, not a decision ("no sé si cancelar").
_CLAUSE = re.compile(r"[,.;:!?¿¡]|\b(?:pero|but|aunque|though|although|y|and|porque|because|xq|pq)\b")


@dataclass(frozen=True)
class _Hit:
    kind: str
    negated: bool
    hedged: bool
    initial_negator: bool = False  # negated by a "no" that opens the clause ("no me quedo")


# "sigo sin internet" is a complaint, not staying: such phrases are removed before reading.
_NOT_STAY = re.compile(_words(
    "sigo sin|sigo con problemas|sigo con el problema|sigo teniendo|sigo esperando|sigo pagando|"
    "seguir pagando|seguir esperando|sigo igual de mal|still waiting|still paying|still without"))


def _clauses(text: str) -> list[str]:
    parts = _CLAUSE.split(text)
    return [p.strip() for p in parts if p and p.strip()]


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
        out.append(_Hit(kind, negator is not None, hedged, initial_negator=negator == 0))
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


def _drop(text: str) -> Optional[str]:
    """The one service the customer wants to remove while keeping the rest, if that is it."""
    mentioned = [s for s, p in _SERVICE_WORDS.items() if p.search(text)]
    if not mentioned or not _REMOVE.search(text):
        return None
    for clause in _clauses(text):
        if not _REMOVE.search(clause):
            continue
        targets = [s for s in mentioned if _SERVICE_WORDS[s].search(clause)]
        if len(targets) == 1 and (_KEEP.search(text) or len(mentioned) > 1):
            kept = [s for s in mentioned if s != targets[0]]
            if not kept and not _KEEP.search(text):
                return None
            return targets[0]
    return None


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
_OBJECT = re.compile(_words(
    "pedido|el pedido|la cita|la visita|visita|tecnico|el tecnico|pago|el pago|transferencia|"
    "recibo|domiciliacion|reserva|suscripcion a la newsletter|newsletter|tarjeta|la tarjeta|"
    "order|my order|the order|appointment|visit|technician|payment|the payment|transfer|"
    "booking|reservation|direct debit|newsletter|card|my card|the card|meeting"))


def signals(text: str) -> frozenset[str]:
    """The kinds of words found, with negation applied: a negated stay is a cancel and back."""
    norm = _NOT_STAY.sub(" ", normalise(text))
    found: set[str] = set()
    for clause in _clauses(norm) or [norm]:
        for hit in _hits(clause):
            kind = hit.kind
            if hit.negated:
                # "ya no quiero seguir" leaves; but "no me quedo" opening the answer cannot be
                # told from "no, me quedo" in a transcript without commas: unsure, never a cancel
                kind = {"stay": "not_stay_initial" if hit.initial_negator else "not_stay",
                        "cancel": "stay", "leave": "stay", "yes": "no", "human": ""}.get(kind, kind)
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
    return frozenset(found)


def payload_answer(text: str) -> Optional[Answer]:
    """A pressed button sends its payload ("/affirm"): an explicit choice, read as such."""
    payload = (text or "").strip().split("{")[0]
    return {"/affirm": Answer.YES, "/deny": Answer.NO, "/cancel_firm": Answer.CANCEL,
            "/keep_service": Answer.STAY, "/ask_human": Answer.HUMAN,
            "/think_about_it": Answer.UNDECIDED}.get(payload)


def read(text: str, question: Question | str) -> Reading:
    """What ``text`` means as an answer to ``question``."""
    question = Question(question)
    pressed = payload_answer(text)
    if pressed is not None:
        if question is Question.CONFIRM_CANCEL:  # the question's yes is the cancellation
            pressed = {Answer.YES: Answer.CANCEL, Answer.NO: Answer.STAY}.get(pressed, pressed)
        return Reading(pressed, signals=frozenset({"button"}))
    found = signals(text)
    drop = _drop(normalise(text))
    if "undo" in found and question in (Question.OPEN, Question.REASON):
        return Reading(Answer.UNDO, signals=found)
    if "human" in found:
        return Reading(Answer.HUMAN, signals=found)
    if drop is not None:
        return Reading(Answer.PARTIAL, drop=drop, signals=found)
    if question in (Question.CONFIRM_CANCEL, Question.PLAN_CHANGE, Question.WINBACK):
        return Reading(_yes_no(found, question), signals=found)
    if question is Question.OFFER:
        return Reading(_offer(found), signals=found)
    if question is Question.REASON:
        if "cancel" in found and not found & {"undecided", "stay"}:
            return Reading(Answer.CANCEL, signals=found)
        if "stay" in found and "cancel" not in found:
            return Reading(Answer.STAY, signals=found)
        return Reading(Answer.UNCLEAR, signals=found)
    if "stay" in found and "cancel" not in found:
        return Reading(Answer.STAY, signals=found)
    return Reading(Answer.UNCLEAR, signals=found)


def _yes_no(found: frozenset[str], question: Question) -> Answer:
    """A yes/no question whose yes is the action named in it (cancel, change plan, come back)."""
    action_word = "cancel" if question is Question.CONFIRM_CANCEL else "yes"
    if "stay" in found and "cancel" not in found:
        return Answer.STAY if question is Question.CONFIRM_CANCEL else Answer.NO
    if "undecided" in found:
        return Answer.UNDECIDED
    if question is Question.CONFIRM_CANCEL and "cancel" in found and "stay" not in found:
        return Answer.CANCEL
    if question is not Question.CONFIRM_CANCEL and "cancel" in found:
        return Answer.CANCEL
    yes, no = "yes" in found or action_word in found, "no" in found
    if yes and no:
        return Answer.UNDECIDED
    if yes:
        return Answer.CANCEL if question is Question.CONFIRM_CANCEL else Answer.YES
    if no:
        return Answer.STAY if question is Question.CONFIRM_CANCEL else Answer.NO
    return Answer.UNCLEAR


def _offer(found: frozenset[str]) -> Answer:
    if "cancel" in found and "stay" not in found and "undecided" not in found:
        return Answer.CANCEL      # "no, just cancel", "no gracias, quiero la baja"
    if "stay" in found and "cancel" not in found:
        return Answer.STAY        # "de momento sigo", "me lo pienso... de momento sigo"
    if "undecided" in found:
        return Answer.UNDECIDED
    if "cancel" in found:         # cancel and stay together: not clear enough to act on
        return Answer.UNDECIDED
    yes, no = "yes" in found, "no" in found
    if yes and no:
        return Answer.UNDECIDED
    if yes:
        return Answer.YES
    if no:
        return Answer.NO
    return Answer.UNCLEAR


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


_ABROAD = re.compile(_words(
    "al extranjero|en el extranjero|fuera de espana|a otro pais|otro pais|fuera del pais|emigro|me voy a vivir fuera|"
    "abroad|overseas|another country|out of the country|leaving the country|leaving the uk|leaving spain"))


def moving_abroad(text: str) -> bool:
    """The customer is leaving the country ("me voy al extranjero", "moving abroad"): the service
    cannot go with them to the new home."""
    return bool(_ABROAD.search(normalise(text).replace("ñ", "n")))


_OPERATORS = _words(
    "movistar|vodafone|orange|digi|o2|yoigo|masmovil|mas movil|pepephone|lowi|simyo|jazztel|"
    "finetwork|euskaltel|telecable|r cable|adamo|avatel|bt|ee|sky|virgin|virgin media|talktalk|"
    "plusnet|three|verizon|t-mobile|at&t|comcast|xfinity|spectrum|starlink|claro|telcel|tigo|"
    "otra compania|otra operadora|otro operador|la competencia|otra empresa|another provider|"
    "another company|another carrier|another network|a competitor|the competition|switching to|"
    "me paso a|me cambio a|me voy a la competencia|me voy con")
_COMPETITOR = re.compile(_OPERATORS)
_FIRM = re.compile(_words(
    "solo|simplemente|directamente|sin mas|de una vez|ya mismo|ahora mismo|ahora|ya|"
    "just|simply|straight away|right away|right now|now|asap|without offers|sin ofertas"))


def mentioned_reason(text: str) -> str | None:
    """A churn reason said in plain words the model may miss: another operator by name."""
    return "competitor" if _COMPETITOR.search(normalise(text)) else None


def firm_request(text: str) -> bool:
    """ "Solo quiero cancelar", "just cancel my contract": leaving at once, no talk wanted."""
    norm = normalise(text)
    return bool(_FIRM.search(norm)) and "cancel" in signals(text) and "stay" not in signals(text)
