"""Identity check of an anonymous visitor: customer number, the contract's postcode, then a
one-time code texted to the number on file.

Three wrong answers end the attempt politely with a way forward (log in on the website).
Guessing is limited beyond one conversation too: wrong answers are recorded per customer
number and per source (the visitor's IP address) and, past the limits of
``data/retention.yml`` ``verification:``, postcode answers for that number or from that source
are refused for a while. Nobody can lock a customer out with that: a visitor who already holds
a live code of their conversation may still type it (the code's own tries are limited), and the
ways in that the lock-out message offers (the website login, an SMS from the phone on file)
never go through this check.
A postcode alone is weak (the seeded data has ten distinct ones), so the code is what proves
that the visitor holds the customer's phone: an anonymous visitor is never verified without it,
and when no SMS can be sent they are sent to the ways in that need no chat verification
(the website login, an SMS from the phone on file).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.customers import find_customer
from bot.core.process import VerificationPolicy
from bot.core.vocabulary import Stage
from bot.storage.models import Customer, VerificationAttempt, VerificationCode, utcnow

# A customer number is a C and five digits ("C00042"); written with spaces, a dash or in lower
# case, or spoken ("ce cero cero cero cuatro dos"). Five digits without the C are a postcode
# or a phone fragment, not a customer number: they are asked again.
REF = re.compile(r"(?<![a-z0-9])c\s?-?\s?((?:\d\s?){5})(?![0-9])", re.IGNORECASE)
POSTCODE = re.compile(r"(?<!\d)(\d{5})(?!\d)")
_DIGIT_WORDS = {
    "cero": "0", "zero": "0", "oh": "0", "uno": "1", "un": "1", "una": "1", "one": "1", "dos": "2",
    "two": "2", "tres": "3", "three": "3", "cuatro": "4", "four": "4", "cinco": "5", "five": "5",
    "seis": "6", "six": "6", "siete": "7", "seven": "7", "ocho": "8", "eight": "8", "nueve": "9",
    "nine": "9"}
_LETTER_C = {"ce", "c", "see", "sea", "si"}
# "no sé cuál es mi número", "where do I find it": help, not a wrong answer
DONT_KNOW = re.compile(
    r"\b(no (lo )?se|nose|ni idea|no (lo )?tengo|no me acuerdo|no recuerdo|donde (lo )?(encuentro|veo|miro)|"
    r"cual es|don'?t know|dont have|no idea|where (do|can) i find|can'?t find|cannot find|"
    r"don'?t remember|forgot)\b")
MAX_ATTEMPTS = 3
#: the stages of the identity check; while one is set, every message is an identity answer
#: (data/rules/identity.yml, written by ``python -m bot.nlu.answer_rules``)
IDENTITY_STAGES = (Stage.VERIFY_REF, Stage.VERIFY_POSTCODE, Stage.VERIFY_CODE)
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
# "no me ha llegado", "send it again": a new code, once per conversation
RESEND = re.compile(r"\b(no (me )?(ha )?llega\w*|no (lo )?(he )?recibido|reenv\w*|otra vez|"
                    r"de nuevo|manda\w* otro|didn'?t (get|receive)|not (got|received)|"
                    r"haven'?t (got|received)|resend|send (it )?again|another (one|code)|"
                    r"never (came|arrived))\b")
MAX_RESENDS = 1
CODE_SMS = {
    "es": "Tu código de verificación de Nubia es {code}. Caduca en {minutes} minutos. "
          "No lo compartas con nadie: nunca te lo pediremos por teléfono.",
    "en": "Your Nubia verification code is {code}. It expires in {minutes} minutes. "
          "Never share it: we will never ask for it on the phone.",
}


@dataclass
class IdentityStep:
    """Result of one answer: what to say, the next stage, and (when done) the customer."""

    responses: list[str] = field(default_factory=list)
    stage: Optional[str] = None
    ref: Optional[str] = None
    attempts: int = 0
    customer_id: Optional[int] = None
    failed: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    #: a one-time code to text to ``code_customer_id`` now (the caller sends it)
    code: Optional[str] = None
    code_customer_id: Optional[int] = None


@dataclass(frozen=True)
class Attempt:
    """Who is answering, for the limits that span conversations."""

    source: str
    conversation_id: str
    #: whether an SMS can be sent at all (Twilio or the demo phone); without it nobody is
    #: verified in chat, since the texted code is the only proof (``data/retention.yml``)
    can_text: bool = True
    language: str = "es"


def spoken_to_digits(text: str) -> str:
    """ "ce cero cero cero cinco uno" -> "c 0 0 0 5 1"; "doble cero" and "double oh" too."""
    words = re.sub(r"[^\w\s]", " ", _fold(text)).split()
    out: list[str] = []
    repeat = 1
    for i, word in enumerate(words):
        if word in ("doble", "double"):
            repeat = 2
            continue
        if word in ("triple",):
            repeat = 3
            continue
        if word in _DIGIT_WORDS and (word not in ("un", "una", "oh") or out):
            out.extend([_DIGIT_WORDS[word]] * repeat)
        elif word in _LETTER_C and i + 1 < len(words) and (words[i + 1] in _DIGIT_WORDS
                                                          or words[i + 1].isdigit()):
            out.append("c")
        else:
            out.append(word)
        repeat = 1
    return " ".join(out)


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def parse_ref(text: str) -> Optional[str]:
    """The customer number in ``text`` (``C`` + five digits), or None."""
    for candidate in (text or "", spoken_to_digits(text or "")):
        match = REF.search(candidate)
        if match:
            return "C" + re.sub(r"\s", "", match.group(1))
    return None


def _digits(text: str, pattern: re.Pattern[str], separators: str) -> Optional[str]:
    """The first ``pattern`` match in ``text`` as typed or spoken, once ``separators`` between
    two digits are removed ("28 013", "4-0-8 6 7 9")."""
    for candidate in (text or "", spoken_to_digits(text or "")):
        match = pattern.search(re.sub(rf"(?<=\d){separators}(?=\d)", "", candidate))
        if match:
            return match.group(1)
    return None


def parse_postcode(text: str) -> Optional[str]:
    return _digits(text, POSTCODE, r"\s")


def parse_code(text: str) -> Optional[str]:
    return _digits(text, CODE, r"[\s.-]")


def answer(session: Session, stage: str, text: str, ref: Optional[str], attempts: int,
           who: Attempt | None = None, policy: VerificationPolicy | None = None,
           now: datetime | None = None) -> IdentityStep:
    """Process the visitor's answer at ``stage`` (Stage.VERIFY_REF, Stage.VERIFY_POSTCODE or
    "verify_code"). With ``who`` (every anonymous visitor) the right postcode only leads to a
    code texted to the phone on file, and the limits across conversations apply; without it
    neither is used (callers that already know the channel's proof)."""
    policy = policy or VerificationPolicy()
    now = now or utcnow()
    if who is not None and not who.can_text:  # no code can reach the phone: no proof possible
        return IdentityStep(responses=["utter_verify_code_unavailable"], stage=None,
                            attempts=attempts, failed=True)
    if who is not None and not (stage == Stage.VERIFY_CODE and _holds_code(session, who, ref, now)):
        # A visitor who holds a live code of this conversation may type it even if others have
        # since locked the number: the code reached the phone on file, and its own tries are
        # limited (code_max_attempts, max_codes_per_customer).
        until = locked_until(session, who.source, ref if stage != Stage.VERIFY_REF else None,
                             policy, now)
        if until is not None:
            return _locked(until, now)
    if stage == Stage.VERIFY_REF:
        parsed = parse_ref(text)
        if parsed is None and DONT_KNOW.search(_fold(text)):
            return IdentityStep(responses=["utter_verify_ref_help"], stage=Stage.VERIFY_REF,
                                attempts=attempts)
        if parsed is None:
            return _wrong(session, who, None, now, attempts, ["utter_verify_ref_format"],
                          "verify_ref")
        if who is not None and (until := locked_until(session, who.source, parsed, policy, now)):
            return _locked(until, now)
        return IdentityStep(responses=["utter_ask_verify_postcode"], stage=Stage.VERIFY_POSTCODE,
                            ref=parsed, attempts=attempts)
    customer = find_customer(session, ref=ref) if ref else None
    if stage == Stage.VERIFY_CODE:
        return _code_answer(session, who, customer, text, ref, attempts, policy, now)
    postcode = parse_postcode(text)
    if not postcode and not re.search(r"\d", spoken_to_digits(text or "") + (text or "")):
        # no digits at all ("vale, pero ¿qué tengo que hacer?", "no me lo sé"): not a guess, so
        # not a failed attempt; the question again, saying what a postcode looks like
        return IdentityStep(responses=["utter_verify_postcode_format"], stage=Stage.VERIFY_POSTCODE,
                            ref=ref, attempts=attempts)
    if customer is None or not postcode or customer.postcode != postcode:
        return _wrong(session, who, ref, now, attempts,
                      ["utter_verify_failed_retry", "utter_ask_verify_ref"], "verify_ref")
    if who is not None:
        return _send_code(session, who, customer, ref, attempts, policy, now)
    return _verified(customer, ref, attempts)


def _verified(customer: Customer, ref: Optional[str], attempts: int) -> IdentityStep:
    return IdentityStep(responses=["utter_verified"], stage=None, ref=ref, attempts=attempts,
                        customer_id=customer.id,
                        params={"customer_first_name": customer.first_name})


def _hash(conversation_id: str, code: str) -> str:
    return hashlib.sha256(f"{conversation_id}:{code}".encode("utf-8")).hexdigest()


def _send_code(session: Session, who: Attempt, customer: Customer, ref: Optional[str],
               attempts: int, policy: VerificationPolicy, now: datetime) -> IdentityStep:
    """A new code for this conversation (older ones stop working); the caller texts it."""
    if not customer.phone:
        return IdentityStep(responses=["utter_verify_code_unavailable"], stage=None,
                            attempts=attempts, failed=True)
    sent = session.execute(select(func.count(), func.min(VerificationCode.created_at)).where(
        VerificationCode.customer_id == customer.id,
        VerificationCode.created_at > now - policy.window)).one()
    if sent[0] >= policy.max_codes_per_customer:  # whoever asks, the phone is not flooded
        minutes = max(1, int((sent[1] + policy.window - now + timedelta(seconds=59)).total_seconds() // 60))
        return IdentityStep(responses=["utter_verify_code_limit"], stage=None, attempts=attempts,
                            failed=True, params={"minutes": minutes})
    void_codes(session, who.conversation_id, now)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    session.add(VerificationCode(customer_id=customer.id, conversation_id=who.conversation_id,
                                 code_hash=_hash(who.conversation_id, code), created_at=now,
                                 expires_at=now + policy.code_ttl, attempts=0))
    session.flush()
    return IdentityStep(responses=["utter_verify_code_sent"], stage=Stage.VERIFY_CODE, ref=ref,
                        attempts=attempts, code=code, code_customer_id=customer.id,
                        params={"phone_end": customer.phone[-3:]})


def _pending_code(session: Session, conversation_id: str, customer_id: int) -> Optional[VerificationCode]:
    """The latest unused code of this conversation for this customer."""
    return session.scalar(select(VerificationCode).where(
        VerificationCode.conversation_id == conversation_id,
        VerificationCode.customer_id == customer_id,
        VerificationCode.used_at.is_(None)).order_by(VerificationCode.id.desc()))


def _holds_code(session: Session, who: Attempt, ref: Optional[str], now: datetime) -> bool:
    customer = find_customer(session, ref=ref) if ref else None
    pending = _pending_code(session, who.conversation_id, customer.id) if customer else None
    return pending is not None and pending.expires_at >= now


def _code_answer(session: Session, who: Attempt | None, customer: Customer | None, text: str,
                 ref: Optional[str], attempts: int, policy: VerificationPolicy,
                 now: datetime) -> IdentityStep:
    if who is None or customer is None:
        return IdentityStep(responses=["utter_ask_verify_ref"], stage=Stage.VERIFY_REF,
                            attempts=attempts)
    pending = _pending_code(session, who.conversation_id, customer.id)
    code = parse_code(text)
    if code is None and RESEND.search(_fold(text)):
        sent = session.scalar(select(func.count()).select_from(VerificationCode).where(
            VerificationCode.conversation_id == who.conversation_id))
        if sent <= MAX_RESENDS:
            return _send_code(session, who, customer, ref, attempts, policy, now)
        return IdentityStep(responses=["utter_verify_code_unavailable"], stage=None,
                            attempts=attempts, failed=True)
    if code is None:
        return IdentityStep(responses=["utter_verify_code_format"], stage=Stage.VERIFY_CODE, ref=ref,
                            attempts=attempts)
    if pending is None or pending.expires_at < now:
        if pending is not None:
            pending.used_at = now
        return IdentityStep(responses=["utter_verify_code_expired", "utter_ask_verify_ref"],
                            stage=Stage.VERIFY_REF, attempts=attempts)
    if secrets.compare_digest(pending.code_hash, _hash(who.conversation_id, code)):
        pending.used_at = now
        _record(session, who, ref, now, succeeded=True)
        return _verified(customer, ref, attempts)
    pending.attempts += 1
    if pending.attempts >= policy.code_max_attempts:
        pending.used_at = now
    step = _wrong(session, who, ref, now, attempts, ["utter_verify_code_wrong"], "verify_code")
    if pending.used_at is not None and not step.failed:  # this code is spent: start again
        step = replace(step, responses=["utter_verify_code_expired", "utter_ask_verify_ref"],
                            stage=Stage.VERIFY_REF, ref=None)
    else:
        step.ref = ref
    return step


def _record(session: Session, who: Attempt | None, ref: Optional[str], now: datetime, *,
            succeeded: bool) -> None:
    if who is None:
        return
    session.add(VerificationAttempt(created_at=now, customer_ref=ref, source=who.source[:128],
                                    conversation_id=who.conversation_id[:200],
                                    succeeded=succeeded))
    session.flush()


def locked_until(session: Session, source: str, ref: Optional[str], policy: VerificationPolicy,
                 now: datetime) -> Optional[datetime]:
    """Until when ``source`` (or customer number ``ref``) may not try again, or None."""
    checks = [(VerificationAttempt.source == source[:128], policy.max_failures_per_source)]
    if ref:
        checks.append((VerificationAttempt.customer_ref == ref, policy.max_failures_per_customer))
    latest: Optional[datetime] = None
    for condition, limit in checks:
        last_success = session.scalar(select(func.max(VerificationAttempt.created_at)).where(
            condition, VerificationAttempt.succeeded.is_(True)))
        since = max(now - policy.window, last_success) if last_success else now - policy.window
        failures = session.execute(select(func.count(), func.max(VerificationAttempt.created_at))
                                   .where(condition, VerificationAttempt.succeeded.is_(False),
                                          VerificationAttempt.created_at > since)).one()
        if failures[0] >= limit and failures[1] + policy.lockout > now:
            until = failures[1] + policy.lockout
            latest = until if latest is None or until > latest else latest
    return latest


def _locked(until: datetime, now: datetime) -> IdentityStep:
    minutes = max(1, int((until - now + timedelta(seconds=59)).total_seconds() // 60))
    return IdentityStep(responses=["utter_verify_locked"], stage=None, failed=True,
                        attempts=MAX_ATTEMPTS, params={"minutes": minutes})


def _wrong(session: Session, who: Attempt | None, ref: Optional[str], now: datetime,
           attempts: int, responses: list[str], stage: str) -> IdentityStep:
    _record(session, who, ref, now, succeeded=False)
    attempts += 1
    if attempts >= MAX_ATTEMPTS:
        return IdentityStep(responses=["utter_verify_failed"], stage=None, attempts=attempts,
                            failed=True)
    return IdentityStep(responses=responses, stage=stage, attempts=attempts)


def code_sms(code: str, language: str, policy: VerificationPolicy) -> str:
    """The text of the SMS that carries a one-time code."""
    minutes = int(policy.code_ttl.total_seconds() // 60)
    return CODE_SMS.get(language, CODE_SMS["es"]).format(code=code, minutes=minutes)


def void_codes(session: Session, conversation_id: str, now: datetime | None = None) -> None:
    """Codes of this conversation stop working (e.g. the SMS could not be sent)."""
    for row in session.scalars(select(VerificationCode).where(
            VerificationCode.conversation_id == conversation_id,
            VerificationCode.used_at.is_(None))):
        row.used_at = now or utcnow()
