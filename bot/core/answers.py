"""Read a customer's answer against the question the assistant just asked.

A context-free intent model reads "no, I'll stay for now" as wanting to cancel and "sí, hazlo"
as nothing in particular; a person reads both against the question. This module does what the
person does: given the question (:class:`Question`) and the text, it says what the answer means
(:class:`Answer`), in Spanish or English, in chat, SMS shorthand or voice transcripts.

It looks for the few kinds of words an answer to a yes/no or offer question is made of (yes,
no, stay, cancel, undecided, undo, a person: ``bot.core.answer_signals``; dropping one service:
here) with their negation ("no quiero cancelar" is staying, "no me quedo" is leaving) and hedges
("no sé si cancelar" is undecided, never yes). Nothing here changes an account: the retention rules decide what each
answer does, and only an unambiguous answer may lead to an irreversible action.

Pure Python, no Rasa: the action server, tests and tools use it alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from bot.core.answer_signals import signals
from bot.core.customer_text import clauses, normalise, phrase_pattern


class Question(str, Enum):
    """What the assistant asked; each expects its own kind of answer."""

    OPEN = "open"                      # no question pending (a first message)
    CONFIRM_CANCEL = "confirm_cancel"  # "shall I process the cancellation now?"
    OFFER = "offer"                    # "would you like this offer?"
    REASON = "reason"                  # "what is the main reason?"
    PLAN_CHANGE = "plan_change"        # "shall I change you to plan X for N EUR?"
    PLAN_CHOICE = "plan_choice"        # "which of these plans would you like?"
    WINBACK = "winback"                # a win-back offer sent by SMS
    LEAVING = "leaving"                # after a complaint: "are you thinking of leaving us?"


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


#: the words that name each service of a bundle, and those that remove one or keep the rest
_SERVICE_WORDS = {
    "mobile": re.compile(phrase_pattern("movil|el movil|la linea movil|linea movil|linea del movil|"
                                        "celular|el celular|linea del celular|linea celular|"
                                        "moviles|mobile|the mobile|mobile line|phone line|cell|cell line|"
                                        "sim|the sim|mobile plan")),
    "tv": re.compile(phrase_pattern("tele|la tele|tv|la tv|television|the tv|the television|"
                                    "tv package|paquete de tv|paquete de television")),
    "fibre": re.compile(phrase_pattern("fibra|la fibra|internet|wifi|el internet|the fibre|the fiber|"
                                       "fiber|fibre|broadband|home internet")),
}
_REMOVE = re.compile(phrase_pattern(
    "quitar|quitame|quita|quitad|quitarme|eliminar|elimina|eliminame|suprimir|prescindir|"
    "dar de baja|darme de baja|dame de baja|baja del|baja de la|cancelar|cancela|cancelame|"
    "sin|no necesito|no uso|no quiero|sobra|me sobra|rescindir|rescinde|terminar|terminar con|"
    "finalizar|anular|anula|end|terminate|stop|"
    "drop|remove|cancel|get rid of|take off|take the tv off|take tv off|take the mobile off|"
    "without|don't need|dont need|don't use|dont use|"
    "no longer need"))
_KEEP = re.compile(phrase_pattern(
    "solo|solamente|nada mas|nomas|unicamente|me quedo|me la quedo|me lo quedo|quedarme|mantener|"
    "mantengo|seguir con|el resto|lo demas|lo otro|"
    "only|just|keep|keeping|the rest|everything else|rest of"))


#: removing something by name ("quita la tele", "cancel the TV"), and the whole account named
_REMOVE_IT = re.compile(phrase_pattern(
    "quitar|quitame|quita|quitad|quitarme|eliminar|elimina|eliminame|suprimir|dar de baja|"
    "dame de baja|baja del|baja de la|cancelar|cancela|cancelame|drop|remove|cancel|get rid of|take off"))
_WHOLE = re.compile(phrase_pattern(
    "todo|toda|todos|everything|all|whole|entire|entera|entero|completo|completa|incluida|incluido|"
    "incluso|including|included|la cuenta|mi cuenta|account|contrato|contract|me quedo|stay"))


_SERVICE_NAMES = r"(?:fibra|movil|moviles|tele|tv|television|internet|fibre|fiber|broadband|mobile|mobiles)"
_BOTH = re.compile(r"\b" + _SERVICE_NAMES + r"\s+(?:y|e|and|&)\s+(?:el |la |los |las |the |my |mi |mis )?"
                   + _SERVICE_NAMES + r"\b")


#: being left without a service is a complaint, not removing it: "me quedo sin internet"
_LEFT_WITHOUT = re.compile(
    r"\b(?:me quedo|me he quedado|nos quedamos|nos hemos quedado|estoy|estamos|sigo|seguimos|"
    r"dias|semanas|horas|i'm|im|i am|we're|we are|been|left|still|days|weeks|hours)\s+(?:sin|without)\b")


def _drop(text: str) -> Optional[str]:
    """The one service the customer wants to remove while keeping the rest, if that is it."""
    text = _LEFT_WITHOUT.sub(" ", text)
    mentioned = [s for s, p in _SERVICE_WORDS.items() if p.search(text)]
    if not mentioned or not _REMOVE.search(text):
        return None
    if not _KEEP.search(text) and _BOTH.search(text):
        return None  # "rescindir el contrato de fibra y móvil": both named, nothing kept
    for clause in clauses(text):
        if not _REMOVE.search(clause):
            continue
        targets = [s for s in mentioned if _SERVICE_WORDS[s].search(clause)]
        # TV is never a plan on its own: removing it always leaves the rest ("cancel the TV bit")
        alone = (targets == ["tv"] and len(mentioned) == 1 and bool(_REMOVE_IT.search(clause))
                 and not _WHOLE.search(text))
        if len(targets) == 1 and (_KEEP.search(text) or len(mentioned) > 1 or alone):
            kept = [s for s in mentioned if s != targets[0]]
            if not kept and not _KEEP.search(text) and not alone:
                return None
            return targets[0]
    return None


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
    if question in (Question.CONFIRM_CANCEL, Question.PLAN_CHANGE, Question.WINBACK, Question.LEAVING):
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
    if (yes and no) or (yes and "conditional" in found):
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
    if (yes and no) or (yes and "conditional" in found):
        return Answer.UNDECIDED  # "sí, pero primero dime cuánto me ahorro": asked once more
    if yes:
        return Answer.YES
    if no:
        return Answer.NO
    return Answer.UNCLEAR
