"""Drive the dialogues of ``tests/dialogues/`` through the running stack and judge the outcome.

A dialogue is a list of a customer's texts on one channel (README there). The runner sends
them one by one as that channel does (REST JSON; the signed socket.io website chat with the
customer's JWT; Twilio SMS and voice webhooks signed with the real ``twilio`` validator), keeps
every reply, and then reads the account's final state from the database: subscription status
and plan, cases and their status and reason, accepted offers, handoff tickets. Replies are
checked against the language of the dialogue by matching them with the ``domain.yml``
responses of each language.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session

from bot.channels import issue_web_token
from bot.storage.models import (
    ActionPlan,
    ActionPlanCheckin,
    CaseOffer,
    ColdCase,
    Customer,
    HandoffTicket,
    RetentionCase,
    Subscription,
)

DIALOGUES_DIR = Path(__file__).resolve().parents[1] / "dialogues"
CHANNELS = ("web", "rest", "sms", "voice")
OUTCOMES = ("cancelled", "offer_accepted", "stayed", "undecided", "handoff", "plan_changed",
            "undone", "no_case")
TIMES = {"office": "2026-11-24T11:00:00+01:00", "night": "2026-11-24T23:30:00+01:00"}
SMS_WEBHOOK = "/webhooks/twilio/webhook"
VOICE_WEBHOOK = "/webhooks/twilio_voice/webhook"


@dataclass(frozen=True)
class Dialogue:
    name: str
    channel: str
    customer: str
    language: str
    turns: tuple[str, ...]
    outcome: str
    time: str = "office"
    reason: str | None = None
    source: str = ""


def load_dialogues(part: str) -> list[Dialogue]:
    """Every dialogue of ``tests/dialogues/<part>/*.yml``, validated."""
    found: list[Dialogue] = []
    for path in sorted((DIALOGUES_DIR / part).glob("*.yml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8"))["dialogues"]:
            # an unquoted yes / no / on is a YAML boolean: it would be sent as "True"
            not_text = [t for t in raw["turns"] if isinstance(t, bool) or not isinstance(t, (str, int))]
            assert not not_text, f"{path.name}: {raw['name']}: quote the turns {not_text}"
            d = Dialogue(name=raw["name"], channel=raw["channel"], customer=raw["customer"],
                         language=raw["language"], turns=tuple(str(t) for t in raw["turns"]),
                         outcome=raw["outcome"], time=raw.get("time", "office"),
                         reason=raw.get("reason"), source=f"{path.name}")
            assert d.channel in CHANNELS and d.outcome in OUTCOMES and d.time in TIMES, d
            assert d.language in ("es", "en") and d.turns, d
            found.append(d)
    names = [d.name for d in found]
    assert len(names) == len(set(names)), "dialogue names must be unique"
    return found


# --- languages of the replies ----------------------------------------------------------------


def _response_patterns(domain_path: Path) -> dict[str, list[re.Pattern[str]]]:
    domain = yaml.safe_load(domain_path.read_text(encoding="utf-8"))
    out: dict[str, list[re.Pattern[str]]] = {"es": [], "en": []}
    for variants in domain["responses"].values():
        for variant in variants:
            lang = "en" if any(c.get("value") == "en" for c in variant.get("condition") or []) else "es"
            text = _squash(variant.get("text") or "")
            if not text:
                continue
            parts = re.split(r"\{[a-z_]+\}", text)
            out[lang].append(re.compile(".*".join(re.escape(p) for p in parts), re.S))
    return out


def _squash(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


class LanguageJudge:
    def __init__(self, domain_path: Path) -> None:
        self.patterns = _response_patterns(domain_path)

    def language_of(self, reply: str) -> str | None:
        squashed = _squash(reply)
        if not squashed:
            return None
        hits = {lang for lang, pats in self.patterns.items() if any(p.search(squashed) for p in pats)}
        return hits.pop() if len(hits) == 1 else None


# --- driving the channels --------------------------------------------------------------------


@dataclass
class Transcript:
    dialogue: Dialogue
    sender: str
    exchanges: list[tuple[str, list[str]]] = field(default_factory=list)
    reply_languages: list[str] = field(default_factory=list)  # voice: from <Say language>

    def render(self) -> str:
        lines = [f"[{self.dialogue.name}] {self.dialogue.channel} {self.dialogue.customer}"]
        for text, replies in self.exchanges:
            lines.append(f"  customer: {text}")
            lines += [f"  bot: {r}" for r in replies] or ["  bot: (nothing)"]
        return "\n".join(lines)


class WebChat:
    """The website's chat: socket.io with the customer's signed token, as rasa-webchat does."""

    def __init__(self, rasa_url: str, token: str, session_id: str | None = None) -> None:
        import socketio

        self.replies: list[str] = []
        self.event = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("bot_uttered", self._on_bot)
        self.client.on("session_confirm", lambda *_: self.event.set())
        self.session_id = session_id or uuid.uuid4().hex
        self.client.connect(rasa_url, auth={"token": token}, transports=["websocket"],
                            socketio_path="/socket.io", wait_timeout=20)
        self.client.emit("session_request", {"session_id": self.session_id})
        self.event.wait(10)

    def _on_bot(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("text"):
            self.replies.append(str(data["text"]))
        self.event.set()

    def send(self, text: str, quiet: float = 1.2, timeout: float = 45.0) -> list[str]:
        self.replies, start = [], len(self.replies)
        self.event.clear()
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})
        deadline = time.monotonic() + timeout
        if not self.event.wait(timeout):
            return []
        seen = -1
        while time.monotonic() < deadline and seen != len(self.replies):
            seen = len(self.replies)
            time.sleep(quiet)
        del start
        return list(self.replies)

    def close(self) -> None:
        self.client.disconnect()


def run_dialogue(stack: Any, caller: Any, dialogue: Dialogue, phone: str) -> Transcript:
    """Send every turn of ``dialogue`` over its channel; the replies are kept in order."""
    sender = f"dlg-{dialogue.name}-{uuid.uuid4().hex[:6]}"
    transcript = Transcript(dialogue, sender)
    if dialogue.channel == "rest":
        transcript.sender = "rest-" + sender  # the REST channel's namespace
        for text in dialogue.turns:
            replies = [str(r.get("text")) for r in stack.rest(sender, text) if r.get("text")]
            code = texted_code(stack, phone, replies)
            if code is not None:  # the customer reads the code on their phone and types it
                replies += [str(r.get("text")) for r in stack.rest(sender, code) if r.get("text")]
            transcript.exchanges.append((text, replies))
    elif dialogue.channel == "web":
        token = issue_web_token(dialogue.customer, stack.jwt_secret, 900)
        chat = WebChat(stack.rasa_url, token)
        transcript.sender = f"web-{dialogue.customer}-{chat.session_id}"
        try:
            for text in dialogue.turns:
                replies = chat.send(text)
                if not replies and not _stored(stack, transcript.sender, text):
                    # the test client's socket lost the message before Rasa got it (the tracker
                    # never saw it): reconnect to the same session and send it again, once
                    chat.close()
                    chat = WebChat(stack.rasa_url, token, session_id=chat.session_id)
                    replies = chat.send(text)
                transcript.exchanges.append((text, replies))
        finally:
            chat.close()
    elif dialogue.channel == "sms":
        from tests.support.twilio_standin import sms_params

        # An SMS conversation is the customer's number: start it afresh for every dialogue.
        transcript.sender = f"sms-{phone}"
        forget_conversation(stack, transcript.sender)
        for text in dialogue.turns:
            reply = caller.post(SMS_WEBHOOK, sms_params(phone, text))
            assert reply.status == 200, reply
            root = ET.fromstring(reply.body)
            transcript.exchanges.append((text, [(m.text or "") for m in root.iter("Message")]))
    else:
        from tests.support.twilio_standin import call_params

        call_sid = "CA" + uuid.uuid4().hex
        query = ""
        reply = caller.post(VOICE_WEBHOOK, call_params(call_sid, phone))
        query = _next_query(reply.body) or query
        for text in dialogue.turns:
            path = VOICE_WEBHOOK + (f"?{query}" if query else "")
            reply = caller.post(path, call_params(call_sid, phone, SpeechResult=text,
                                                  Confidence="0.9", CallStatus="in-progress"))
            assert reply.status == 200, reply
            root = ET.fromstring(reply.body)
            says = list(root.iter("Say"))
            transcript.exchanges.append((text, [(s.text or "") for s in says]))
            transcript.reply_languages += [(s.get("language") or "")[:2] for s in says]
            if root.find("Hangup") is not None or root.find("Dial") is not None:
                break
            query = _next_query(reply.body) or query
    return transcript


CODE_PROMPT = re.compile(r"código de 6 cifras|6-digit code")


def texted_code(stack: Any, phone: str, replies: list[str]) -> str | None:
    """When the assistant has just texted a one-time code, the code the customer's phone got
    (from the stack's Twilio stand-in), else None."""
    standin = getattr(stack, "sms_api", None)
    if standin is None or not any(CODE_PROMPT.search(r) for r in replies):
        return None
    for message in reversed(standin.messages):
        found = re.search(r"\b(\d{6})\b", message.get("Body", ""))
        if message.get("To") == phone and found:
            return found.group(1)
    return None


def _stored(stack: Any, sender_id: str, text: str) -> bool:
    """Did the tracker store receive this customer message?"""
    import json as json_lib
    import sqlite3

    try:
        with sqlite3.connect(stack.tracker_db) as conn:
            rows = conn.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'",
                                (sender_id,)).fetchall()
    except sqlite3.OperationalError:
        return False
    return any((json_lib.loads(data or "{}").get("text") or "") == text for (data,) in rows)


def forget_conversation(stack: Any, sender_id: str) -> None:
    """Remove a conversation from the stack's tracker store (SQLite), as if it never happened."""
    import sqlite3

    try:
        with sqlite3.connect(stack.tracker_db) as conn:
            conn.execute("DELETE FROM events WHERE sender_id = ?", (sender_id,))
    except sqlite3.OperationalError:  # no conversation stored yet: nothing to forget
        pass


def _next_query(body: str) -> str:
    root = ET.fromstring(body)
    gather = root.find("Gather")
    return urlsplit(gather.get("action") or "").query if gather is not None else ""


# --- the account's state ---------------------------------------------------------------------


@dataclass(frozen=True)
class AccountState:
    subscription_status: str
    plan_code: str
    case_statuses: tuple[str, ...]
    first_reason: str | None
    accepted_offer: bool
    undone: bool
    tickets: int


class Accounts:
    """Reads and resets the customers of the stack's database (from the test process)."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        with Session(self.engine) as s:
            self.seeded = {sub.id: {c.name: getattr(sub, c.name) for c in Subscription.__table__.columns}
                           for sub in s.scalars(select(Subscription))}

    def customer(self, session: Session, ref: str) -> Customer:
        found = session.scalar(select(Customer).where(Customer.ref == ref))
        assert found is not None, ref
        return found

    def phone(self, ref: str) -> str:
        with Session(self.engine) as s:
            return str(self.customer(s, ref).phone)

    def reset(self, ref: str) -> None:
        """Give the customer back the seeded subscription, with no cases, tickets or plans."""
        with Session(self.engine) as s, s.begin():
            customer = self.customer(s, ref)
            case_ids = [c.id for c in s.scalars(select(RetentionCase).where(
                RetentionCase.customer_id == customer.id))]
            plan_ids = [p.id for p in s.scalars(select(ActionPlan).where(ActionPlan.case_id.in_(case_ids)))]
            s.execute(delete(ActionPlanCheckin).where(ActionPlanCheckin.plan_id.in_(plan_ids)))
            s.execute(delete(ActionPlan).where(ActionPlan.id.in_(plan_ids)))
            s.execute(delete(ColdCase).where(ColdCase.customer_id == customer.id))
            s.execute(delete(HandoffTicket).where(HandoffTicket.customer_id == customer.id))
            s.execute(delete(CaseOffer).where(CaseOffer.case_id.in_(case_ids)))
            s.execute(delete(RetentionCase).where(RetentionCase.id.in_(case_ids)))
            for sub in customer.subscriptions:
                s.execute(update(Subscription).where(Subscription.id == sub.id)
                          .values(**{k: v for k, v in self.seeded[sub.id].items() if k != "id"}))

    def state(self, ref: str, sender: str) -> AccountState:
        with Session(self.engine) as s:
            customer = self.customer(s, ref)
            sub = customer.subscriptions[-1]
            cases = list(s.scalars(select(RetentionCase).where(
                (RetentionCase.customer_id == customer.id) | (RetentionCase.conversation_id == sender))
                .order_by(RetentionCase.id)))
            tickets = s.scalars(select(HandoffTicket).where(
                (HandoffTicket.customer_id == customer.id) | (HandoffTicket.conversation_id == sender))).all()
            accepted = any(o.outcome == "accepted" for c in cases for o in c.offers)
            return AccountState(
                subscription_status=sub.status, plan_code=sub.plan_code,
                case_statuses=tuple(c.status for c in cases if c.customer_id == customer.id),
                first_reason=next((c.reason for c in cases if c.reason), None),
                accepted_offer=accepted, undone=any(c.cancel_undone_at for c in cases),
                tickets=len(tickets))

    def seeded_plan(self, ref: str) -> str:
        with Session(self.engine) as s:
            sub = self.customer(s, ref).subscriptions[-1]
            return str(self.seeded[sub.id]["plan_code"])


def judge(dialogue: Dialogue, state: AccountState, seeded_plan: str) -> list[str]:
    """What is wrong with the final state for the dialogue's outcome ([] = right)."""
    problems: list[str] = []
    cancelled = state.subscription_status == "cancelled"
    plan_changed = state.plan_code != seeded_plan
    last_case = state.case_statuses[-1] if state.case_statuses else None

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    outcome = dialogue.outcome
    if outcome == "cancelled":
        need(cancelled, "the subscription should be cancelled")
        need(last_case == "cancelled", f"the case should be cancelled, not {last_case}")
    else:
        need(not cancelled, "the subscription was cancelled")
    if outcome == "offer_accepted":
        need(state.accepted_offer, "no accepted offer recorded")
    if outcome in ("stayed", "undecided", "handoff", "no_case", "plan_changed"):
        need(not state.accepted_offer, "an offer was applied")
    if outcome in ("stayed", "undecided", "no_case", "handoff"):
        need(not plan_changed, f"the plan changed to {state.plan_code}")
    if outcome == "stayed":
        need(last_case in (None, "retained"), f"the case should be retained, not {last_case}")
    if outcome == "undecided":  # a read-back answered "no sé" opened no case: none is open too
        need(last_case in (None, "open"), f"the case should stay open, not {last_case}")
    if outcome == "handoff":
        need(state.tickets > 0, "no ticket for a person")
    if outcome == "plan_changed":
        need(plan_changed, "the plan did not change")
        need("cancelled" not in state.case_statuses, "a cancellation was recorded")
    if outcome == "undone":
        need(state.subscription_status == "active" and state.undone, "the cancellation was not undone")
    if outcome == "no_case":
        need(not state.case_statuses, f"a retention case was opened ({state.case_statuses})")
    if dialogue.reason and outcome not in ("no_case",):
        need(state.first_reason == dialogue.reason,
             f"the case's reason should be {dialogue.reason}, not {state.first_reason}")
    return problems


URL = re.compile(r"https?://[^\s<>\"')]+")


def link_problems(transcript: Transcript) -> list[str]:
    """Every link the assistant sent must open (a plan link that 404s is a broken promise)."""
    import urllib.error
    import urllib.request

    problems = []
    for _, replies in transcript.exchanges:
        for url in (u.rstrip(".,;:") for reply in replies for u in URL.findall(reply)):
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    if resp.status != 200:
                        problems.append(f"link {url} answered {resp.status}")
            except (urllib.error.URLError, OSError) as exc:
                problems.append(f"link {url} failed: {exc}")
    return problems


def language_problems(transcript: Transcript, judge_: LanguageJudge) -> list[str]:
    want = transcript.dialogue.language
    wrong = [lang for lang in transcript.reply_languages if lang and lang != want]
    problems = [f"a voice reply was spoken in {wrong[0]}"] if wrong else []
    for _, replies in transcript.exchanges:
        for reply in replies:
            lang = judge_.language_of(reply)
            if lang is not None and lang != want:
                problems.append(f"reply in {lang}: {reply[:80]!r}")
    if not any(replies for _, replies in transcript.exchanges):
        problems.append("the assistant never answered")
    return problems
