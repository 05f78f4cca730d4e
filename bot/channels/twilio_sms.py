"""SMS through Twilio: ``POST /webhooks/twilio/webhook`` (Messaging webhook of the number).

Compared with Rasa's own ``twilio`` channel, this one

* refuses (403) any request whose ``X-Twilio-Signature`` is missing or wrong before reading
  anything else (``TWILIO_AUTH_TOKEN``; ``PUBLIC_BASE_URL`` behind a proxy or tunnel);
* answers synchronously with TwiML ``<Response><Message>...`` (no REST call, nothing blocks
  the event loop), so the reply goes back on the same request;
* identifies the customer by the sender's number (metadata ``channel="sms"``,
  ``customer_phone``, ``phone_verified``); an unknown number is anonymous and has to verify
  before any account change, like an anonymous web visitor;
* renders replies for phones: numbered choices instead of buttons ("Responde 1 o 2"), no
  markdown or emoji, long replies split into ordered segments; a reply "1"/"2" is mapped
  back to the button's payload on the server;
* handles Twilio's keyword filtering (``OptOutType``): STOP-type keywords (STOP, CANCEL,
  END, QUIT, UNSUBSCRIBE...) record the opt-out on the customer and log a case, and never
  reach the bot (the number can no longer be answered by SMS); START clears it; HELP gets a
  short help text. Nothing we send ever asks anyone to text CANCEL;
* processes a ``MessageSid`` once: Twilio's retries get an empty ``<Response/>``;
* replies politely to a message without ``Body`` instead of failing;
* stays silent while the conversation is handed off to a person (paused), and gives Rasa an
  output channel (:class:`TwilioSMSOutput`, REST API off the event loop) so that an agent's
  reply sent with ``output_channel=latest`` reaches the customer by SMS.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels import faults
from bot.channels.twilio_common import (
    BotMessage,
    BoundedTTLStore,
    Choice,
    CollectingOutput,
    claim,
    clean_inbound,
    conversation_state,
    e164,
    mask_phone,
    pick_language,
    profile_language,
    release,
    render_sms,
    resolve_choice,
    server_metadata,
    signed_params,
    turn_language,
)
from bot.config import settings
from bot.core.customers import find_customer
from bot.messaging.sms import SmsConfigError, SmsError, SmsSender
from bot.storage.db import session_scope
from bot.storage.models import utcnow

logger = logging.getLogger(__name__)

CHANNEL = "sms"
STOP_KEYWORDS_MEANING_CANCEL = frozenset({"CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "UNSTOP"})
# A bare opt-out word when Twilio's keyword filtering is off (no OptOutType): we stop texting
# and confirm it ourselves, in the customer's language. CANCEL/END/QUIT are not here: without
# Twilio's filter they are read by the assistant (they may mean the contract).
PLAIN_STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "PARAR", "PARA"})
STOPPED_TEXT = {
    "es": "Hecho: no te enviaremos más SMS de Nubia. Si quieres volver a recibirlos, responde START.",
    "en": "Done: you won't get any more texts from Nubia. To get them again, reply START.",
}

HELP_TEXT = {
    "es": ("Nubia Telecom: soy el asistente virtual por SMS. Escríbeme lo que necesitas, por "
           "ejemplo \"quiero darme de baja\" o \"tengo un problema con la factura\". "
           "Para no recibir más SMS responde STOP."),
    "en": ("Nubia Telecom: I'm the virtual assistant by text. Tell me what you need, for "
           "example \"I'd like to end my contract\" or \"there's a problem with my bill\". "
           "To stop getting texts reply STOP."),
}
EMPTY_BODY_TEXT = {
    "es": "Tu mensaje ha llegado sin texto (solo puedo leer texto). ¿Me escribes qué necesitas?",
    "en": "Your message arrived without any text (I can only read text). "
          "Could you write what you need?",
}
NO_REPLY_TEXT = {
    "es": "¿Puedo ayudarte en algo más?",
    "en": "Is there anything else I can help you with?",
}
ERROR_TEXT = {
    "es": "Lo siento, ahora mismo no puedo responderte. Inténtalo de nuevo en unos minutos.",
    "en": "Sorry, I can't answer right now. Please try again in a few minutes.",
}
# Suggested confirmation for the Messaging Service's Advanced Opt-Out (Twilio sends it, since
# an opted-out number cannot be answered by us): it shows another way to end the contract.
OPT_OUT_CONFIRMATION = {
    "es": ("Nubia Telecom: no recibirás más SMS de este número. Si querías darte de baja del "
           "contrato, llámanos a este mismo número o escríbenos en el chat del Área de cliente "
           "y lo tramitamos al momento. Responde START para volver a usar el SMS."),
    "en": ("Nubia Telecom: you won't get any more texts from this number. If you wanted to end "
           "your contract, call us on this same number or use the chat in the Customer area "
           "and we'll handle it straight away. Reply START to use texts again."),
}


def twiml(*bodies: str) -> HTTPResponse:
    """A TwiML messaging reply; no bodies gives an empty ``<Response/>`` (no SMS sent)."""
    reply = MessagingResponse()
    for body in bodies:
        reply.message(body)
    return response.text(str(reply), content_type="text/xml; charset=utf-8")


@dataclass(frozen=True)
class OptOutRecord:
    customer_ref: str | None
    language: str | None
    was_opted_out: bool


def record_opt_out(phone: str | None, opted_out: bool) -> OptOutRecord:
    """Set (STOP) or clear (START) ``sms_opted_out_at`` on the number's customer (blocking)."""
    if not phone:
        return OptOutRecord(None, None, False)
    with session_scope() as session:
        customer = find_customer(session, phone=phone)
        if customer is None:
            return OptOutRecord(None, None, False)
        was = customer.sms_opted_out_at is not None
        if opted_out:
            if not was:
                customer.sms_opted_out_at = utcnow()
        else:
            customer.sms_opted_out_at = None
        return OptOutRecord(customer.ref, customer.language, was)


def log_opt_out_case(record: OptOutRecord, phone: str | None, keyword: str,
                     message_sid: str | None) -> dict[str, Any]:
    """The structured case line for the team: who opted out, with which word, what to do."""
    case = {
        "event": "sms_opt_out",
        "customer_ref": record.customer_ref,
        "phone": mask_phone(phone),
        "keyword": keyword,
        "message_sid": message_sid,
        "at": utcnow().isoformat(timespec="seconds") + "Z",
        "possible_contract_cancellation": keyword in STOP_KEYWORDS_MEANING_CANCEL,
        "follow_up": ("No more SMS to this number. If the customer meant to end the contract, "
                      "offer it by phone, e-mail or the website chat."),
    }
    logger.warning("SMS opt-out case: %s", json.dumps(case, ensure_ascii=False))
    return case


def phone_of_sender(sender_id: str) -> str | None:
    """The number behind an SMS conversation id (``sms-+34...``)."""
    return e164(sender_id[len("sms-"):]) if sender_id.startswith("sms-") else None


class TwilioSMSOutput(OutputChannel):
    """Sends bot messages outside a webhook turn (an agent's reply) over the REST API."""

    def __init__(self, sender: SmsSender, choices: BoundedTTLStore[list[Choice]]) -> None:
        self.sender = sender
        self.choices = choices

    @classmethod
    def name(cls) -> str:
        return "twilio"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        phone = phone_of_sender(recipient_id)
        if phone is None:
            logger.warning("Cannot text conversation %s: no phone number in its id.", recipient_id)
            return
        language = pick_language(await asyncio.to_thread(profile_language, phone))
        rendered = render_sms([BotMessage.from_rasa(message)], language, limit=10 ** 6)
        if not rendered.segments:
            return
        if rendered.choices:
            self.choices.put(recipient_id, rendered.choices)
        try:
            await self.sender.send_reply(phone=phone, body=rendered.segments[0])
        except SmsError as exc:
            logger.error("Could not text conversation %s: %s", recipient_id, exc)
            raise

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class TwilioSMSInput(InputChannel):
    """Twilio Programmable Messaging webhook, answered with TwiML."""

    @classmethod
    def name(cls) -> str:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(
            auth_token=credentials.get("auth_token"),
            public_base_url=credentials.get("public_base_url"),
            max_segments=int(credentials.get("max_segments", 5)),
        )

    def __init__(self, auth_token: str | None = None, public_base_url: str | None = None,
                 max_segments: int = 5, sender: SmsSender | None = None) -> None:
        self._sender = sender
        self._auth_token = auth_token or None
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.max_segments = max(1, max_segments)
        # numbered choices offered last, per conversation (kept on the server)
        self.choices: BoundedTTLStore[list[Choice]] = BoundedTTLStore(max_items=20_000,
                                                                      ttl_seconds=6 * 3600)
        if not self.auth_token:
            logger.warning("TWILIO_AUTH_TOKEN is not set: every Twilio SMS webhook request "
                           "will be refused (403).")

    @property
    def auth_token(self) -> str | None:
        return self._auth_token or settings.twilio_auth_token()

    @property
    def public_base_url(self) -> str | None:
        return self._public_base_url or settings.public_base_url()

    @staticmethod
    def sender_id(phone: str | None, raw_from: str | None) -> str:
        if phone:
            return f"sms-{phone}"
        safe = "".join(ch for ch in (raw_from or "") if ch.isalnum())[:40]
        return f"sms-other-{safe or 'unknown'}"

    async def language(self, app: Any, sender_id: str, phone: str | None,
                       known: str | None = None) -> str:
        known = known or (await conversation_state(app, sender_id)).language
        if known:
            return known
        return pick_language(await asyncio.to_thread(profile_language, phone))

    def get_output_channel(self) -> OutputChannel | None:
        """For messages outside a webhook turn (an agent's reply via Rasa's API)."""
        if self._sender is None:
            try:
                self._sender = SmsSender.from_env()
            except SmsConfigError as exc:
                logger.warning("Cannot send SMS outside a conversation turn: %s", exc)
                return None
        return TwilioSMSOutput(self._sender, self.choices)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("twilio_sms_webhook", __name__)
        faults.install()
        on_new_message = faults.guarded(on_new_message)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            params = signed_params(request, self.auth_token, self.public_base_url, "SMS")
            if params is None:
                return response.text("Forbidden", status=403)
            try:
                return await self.handle(request, params, on_new_message)
            except Exception:  # a polite answer, never a 500 to Twilio
                logger.exception("The SMS webhook failed.")
                return twiml(ERROR_TEXT["es"])

        return bp

    async def handle(self, request: Request, params: Any,
                     on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        message_sid = params.first("MessageSid") or params.first("SmsSid")
        raw_from = params.first("From")
        phone = e164(raw_from)
        sender_id = self.sender_id(phone, raw_from)
        key = f"sms:{message_sid}" if message_sid else None
        if key and not await asyncio.to_thread(claim, key):
            logger.info("Ignored a repeated delivery of SMS %s.", message_sid)
            return twiml()
        if key is None:
            logger.warning("An SMS without MessageSid: it cannot be de-duplicated.")

        body = params.first("Body")
        opt_type = (params.first("OptOutType") or "").strip().upper()
        if opt_type:
            handled = await self.keyword(request, opt_type, body, phone, sender_id, message_sid)
            if handled is not None:
                return handled

        text = clean_inbound(body)
        if not text:
            return twiml(EMPTY_BODY_TEXT[await self.language(request.app, sender_id, phone)])
        if not opt_type and text.strip(" .!").upper() in PLAIN_STOP_WORDS:
            language = await self.language(request.app, sender_id, phone)
            try:
                record = await asyncio.to_thread(record_opt_out, phone, True)
            except Exception:
                logger.exception("Could not record the SMS opt-out of %s.", mask_phone(phone))
                record = OptOutRecord(None, None, False)
            log_opt_out_case(record, phone, text.strip().upper(), message_sid)
            self.choices.pop(sender_id)
            return twiml(STOPPED_TEXT[record.language if record.language in STOPPED_TEXT else language])

        payload = resolve_choice(self.choices.get(sender_id), text)
        collector = CollectingOutput(self.name())
        metadata = server_metadata(CHANNEL, phone, verified=phone is not None,
                                   extra={"twilio_message_sid": message_sid})
        try:
            await on_new_message(UserMessage(payload or text, collector, sender_id,
                                             input_channel=self.name(), metadata=metadata))
        except Exception:
            logger.exception("The bot failed on SMS %s.", message_sid)
            if key:
                await asyncio.to_thread(release, key)
            return twiml(ERROR_TEXT[await self.language(request.app, sender_id, phone)])

        state = await conversation_state(request.app, sender_id)
        language = turn_language(collector.messages) \
            or await self.language(request.app, sender_id, phone, state.language)
        rendered = render_sms(collector.messages, language, max_segments=self.max_segments)
        if rendered.choices:
            self.choices.put(sender_id, rendered.choices)
        else:
            self.choices.pop(sender_id)
        if not rendered.segments and state.paused:
            return twiml()  # a person has the conversation: they answer, not the assistant
        return twiml(*(rendered.segments or [NO_REPLY_TEXT[language]]))

    async def keyword(self, request: Request, opt_type: str, body: str | None,
                      phone: str | None, sender_id: str,
                      message_sid: str | None) -> HTTPResponse | None:
        """Twilio's keyword filtering; None means "a normal message after all"."""
        word = (body or "").strip().upper()
        if opt_type == "STOP":
            try:
                record = await asyncio.to_thread(record_opt_out, phone, True)
            except Exception:  # the case line below still tells the team
                logger.exception("Could not record the SMS opt-out of %s.", mask_phone(phone))
                record = OptOutRecord(None, None, False)
            log_opt_out_case(record, phone, word or opt_type, message_sid)
            self.choices.pop(sender_id)
            # the number is blocked now: Twilio would refuse any reply (error 21610)
            return twiml()
        if opt_type == "START":
            record = await asyncio.to_thread(record_opt_out, phone, False)
            if record.was_opted_out:
                logger.info("SMS opt-in again by %s (%s).", record.customer_ref or "unknown",
                            mask_phone(phone))
            if word in START_KEYWORDS or record.was_opted_out:
                return twiml()  # Twilio confirms the opt-in itself
            return None  # e.g. "YES" answering our question: a normal message
        if opt_type == "HELP":
            return twiml(HELP_TEXT[await self.language(request.app, sender_id, phone)])
        logger.info("Unknown OptOutType %r: handled as a normal message.", opt_type)
        return None
