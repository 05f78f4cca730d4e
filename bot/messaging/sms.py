"""Outbound SMS to customers over Twilio's REST API (used by the retention campaigns).

    sender = SmsSender.from_env()
    result = await sender.send(customer_id=42, body="...", purpose="marketing")
    await sender.send_reply(phone="+34...", body="...")  # answering an SMS conversation

* **Consent first.** Before any HTTP call the customer is read from the database: no SMS
  without a phone number, without consent for the purpose (``consent_sms_marketing`` for
  ``"marketing"``, ``consent_sms_service`` for ``"service"``) or after an SMS opt-out
  (``sms_opted_out_at``). Refusals raise :class:`SmsNotAllowed`.
* **Async-safe.** The ``twilio`` client is synchronous (``requests``); each call runs in a
  worker thread (``asyncio.to_thread``) so the event loop never blocks.
* **Retries.** 5xx answers, 429 and network errors are retried with exponential backoff
  (:class:`SmsDeliveryFailed` when attempts run out); any other 4xx raises
  :class:`SmsRejected` at once with Twilio's status, error code and message. Error 21610
  (the number replied STOP) also records the opt-out on the customer.
* **Text fit for phones.** Markdown and emoji are removed and long bodies are sent as
  ordered segments of at most 1,600 characters.
* **Secrets.** The auth token is never logged nor shown in ``repr`` or error messages.

Configuration: ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_NUMBER`` (sender), and
for tests only ``TWILIO_API_BASE_URL`` (a stand-in of the API; see :class:`RebasedHttpClient`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.config import settings
from bot.core.customers import find_customer
from bot.core.privacy import mask_phone
from bot.messaging import demo_phone
from bot.messaging.text import e164, plain_text, split_segments
from bot.storage.db import session_scope
from bot.storage.models import utcnow

logger = logging.getLogger(__name__)

Purpose = Literal["marketing", "service"]
PURPOSES: tuple[str, ...] = ("marketing", "service")
OPTED_OUT_ERROR_CODE = 21610  # "Attempt to send to unsubscribed recipient"


class SmsError(Exception):
    """Base class of outbound SMS errors."""


class SmsConfigError(SmsError):
    """Twilio credentials or the sender number are missing."""


def config_problem(account_sid: str | None, auth_token: str | None, from_number: str | None) -> str | None:
    """What keeps these settings from sending SMS, or None when they can."""
    if not account_sid or not auth_token:
        return "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required"
    if e164(from_number) is None:
        return "TWILIO_NUMBER must be our Twilio number in E.164 (+34...)"
    return None


def twilio_configured() -> bool:
    """Whether the Twilio settings can send SMS."""
    return config_problem(settings.twilio_account_sid(), settings.twilio_auth_token(),
                          settings.twilio_number()) is None


def sms_configured() -> bool:
    """Whether ``SmsSender.from_env()`` can send: the one check, for every caller (Twilio, or the
    demo's phones of ``bot.messaging.demo_phone`` when ``SMS_DEMO_PHONE=1``)."""
    return twilio_configured() or demo_phone.enabled()


class SmsNotAllowed(SmsError):
    """The customer may not be texted for this purpose (no consent, opted out, no number)."""

    def __init__(self, reason: str, customer_ref: str | None = None) -> None:
        super().__init__(f"SMS not allowed for {customer_ref or 'this recipient'}: {reason}")
        self.reason = reason
        self.customer_ref = customer_ref


class SmsRejected(SmsError):
    """Twilio refused the message (a 4xx other than 429): retrying will not help."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio rejected the SMS (HTTP {status}, error {code}): {message}")
        self.status = status
        self.code = code
        self.message = message


class SmsDeliveryFailed(SmsError):
    """Twilio kept failing (5xx, 429 or network errors) after every attempt."""

    def __init__(self, attempts: int, last_error: str) -> None:
        super().__init__(f"SMS not sent after {attempts} attempts: {last_error}")
        self.attempts = attempts
        self.last_error = last_error


@dataclass(frozen=True)
class Recipient:
    customer_id: int | None  # None: a number that is not a customer's (conversation replies)
    customer_ref: str
    phone: str


@dataclass(frozen=True)
class SmsResult:
    customer_ref: str
    to: str
    sids: tuple[str, ...]
    attempts: int


class RebasedHttpClient(TwilioHttpClient):
    """Twilio's HTTP client sending every request to another base URL (a test stand-in).

    ``twilio.rest.Client`` accepts any ``HttpClient`` (its ``http_client`` argument), which is
    the library's supported hook; this one only swaps scheme and host of the absolute URL the
    library built (``https://api.twilio.com/2010-04-01/...``), keeping path and query.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an absolute http(s) URL: {base_url!r}")
        self.base = parts
        self.prefix = parts.path.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        rebased = urlunsplit((self.base.scheme, self.base.netloc, self.prefix + parts.path,
                              parts.query, parts.fragment))
        return super().request(method, rebased, *args, **kwargs)


def find_recipient(purpose: str, customer_id: int | None = None,
                   customer_ref: str | None = None) -> Recipient:
    """The customer to text, if they may be texted for ``purpose`` (blocking: DB)."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if customer_id is None and not customer_ref:
        raise ValueError("give customer_id or customer_ref")
    with session_scope() as session:
        customer = find_customer(session, customer_id=customer_id, ref=customer_ref)
        if customer is None:
            raise SmsNotAllowed("no such customer", customer_ref)
        ref = customer.ref
        if customer.sms_opted_out_at is not None:
            raise SmsNotAllowed(f"opted out of SMS on {customer.sms_opted_out_at:%Y-%m-%d}", ref)
        consent = customer.consent_sms_marketing if purpose == "marketing" \
            else customer.consent_sms_service
        if not consent:
            raise SmsNotAllowed(f"no consent to {purpose} SMS", ref)
        phone = e164(customer.phone)
        if phone is None:
            raise SmsNotAllowed("no valid mobile number on file", ref)
        return Recipient(customer.id, ref, phone)


def find_reply_recipient(phone: str) -> Recipient:
    """The number to answer in a conversation it started (blocking: DB).

    Whoever texted us may be answered (no marketing or service consent is involved), but
    never after an opt-out recorded on the customer with that number.
    """
    number = e164(phone)
    if number is None:
        raise SmsNotAllowed("not a mobile number in E.164")
    with session_scope() as session:
        customer = find_customer(session, phone=number)
        if customer is None:
            return Recipient(None, "unknown", number)
        if customer.sms_opted_out_at is not None:
            raise SmsNotAllowed(f"opted out of SMS on {customer.sms_opted_out_at:%Y-%m-%d}",
                                customer.ref)
        return Recipient(customer.id, customer.ref, number)


def record_opted_out(customer_id: int) -> None:
    """Twilio says the number opted out (error 21610): remember it (blocking: DB)."""
    with session_scope() as session:
        customer = find_customer(session, customer_id=customer_id)
        if customer is not None and customer.sms_opted_out_at is None:
            customer.sms_opted_out_at = utcnow()


class SmsSender:
    """Sends SMS to customers who agreed to receive them, with retries."""

    def __init__(self, account_sid: str | None, auth_token: str | None, from_number: str | None,
                 *, api_base_url: str | None = None, max_attempts: int = 4,
                 backoff_seconds: float = 0.5, max_backoff_seconds: float = 8.0,
                 timeout_seconds: float = 15.0, client: Client | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        problem = config_problem(account_sid, auth_token, from_number)
        if problem is not None:
            raise SmsConfigError(problem)
        sender = e164(from_number)
        assert sender is not None  # config_problem checked it
        self.account_sid = account_sid
        self.from_number = sender
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = max(0.0, backoff_seconds)
        self.max_backoff_seconds = max(self.backoff_seconds, max_backoff_seconds)
        self._sleep = sleep
        if client is None:
            http_client = (RebasedHttpClient(api_base_url, timeout=timeout_seconds)
                           if api_base_url else TwilioHttpClient(timeout=timeout_seconds))
            client = Client(account_sid, auth_token, http_client=http_client)
        self._client = client

    @classmethod
    def from_env(cls, **kwargs: Any) -> SmsSender:
        if not twilio_configured() and demo_phone.enabled():  # real Twilio settings always win
            kwargs.setdefault("client", demo_phone.DemoPhoneClient())
            return cls("AC" + "0" * 32, "demo-phone", demo_phone.DEMO_FROM_NUMBER, **kwargs)
        return cls(settings.twilio_account_sid(), settings.twilio_auth_token(),
                   settings.twilio_number(), api_base_url=settings.twilio_api_base_url(),
                   **kwargs)

    def __repr__(self) -> str:  # never the token
        return f"SmsSender(account_sid={self.account_sid!r}, from_number={self.from_number!r})"

    async def send(self, *, body: str, purpose: Purpose, customer_id: int | None = None,
                   customer_ref: str | None = None) -> SmsResult:
        """Text one customer. Raises :class:`SmsNotAllowed` before any HTTP call when they
        may not be texted, :class:`SmsRejected` on a 4xx, :class:`SmsDeliveryFailed` when
        Twilio kept failing."""
        recipient = await asyncio.to_thread(find_recipient, purpose, customer_id, customer_ref)
        return await self._send_segments(recipient, body, purpose)

    async def send_reply(self, *, phone: str, body: str) -> SmsResult:
        """Answer a number in a conversation it started (e.g. an agent replying to an SMS
        chat). Refused (:class:`SmsNotAllowed`) after an opt-out, before any HTTP call."""
        recipient = await asyncio.to_thread(find_reply_recipient, phone)
        return await self._send_segments(recipient, body, "conversation")

    async def _send_segments(self, recipient: Recipient, body: str, purpose: str) -> SmsResult:
        segments = split_segments(plain_text(body, links=True))
        if not segments:
            raise ValueError("the SMS body is empty")
        sids: list[str] = []
        attempts = 0
        for segment in segments:
            sid, used = await self._deliver(recipient, segment)
            sids.append(sid)
            attempts += used
        logger.info("Sent %d SMS segment(s) (%s) to %s (%s).", len(sids), purpose,
                    recipient.customer_ref, mask_phone(recipient.phone))
        return SmsResult(recipient.customer_ref, recipient.phone, tuple(sids), attempts)

    async def _deliver(self, recipient: Recipient, body: str) -> tuple[str, int]:
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                message = await asyncio.to_thread(
                    self._client.messages.create, to=recipient.phone, from_=self.from_number,
                    body=body)
                return str(message.sid), attempt
            except TwilioRestException as exc:
                status = int(exc.status or 0)
                if status < 500 and status != 429:
                    if exc.code == OPTED_OUT_ERROR_CODE and recipient.customer_id is not None:
                        await asyncio.to_thread(record_opted_out, recipient.customer_id)
                    logger.warning("Twilio rejected an SMS to %s: HTTP %s, error %s.",
                                   recipient.customer_ref, status, exc.code)
                    raise SmsRejected(status, exc.code, str(exc.msg or "")) from None
                last_error = f"HTTP {status} (error {exc.code}): {exc.msg}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_error = f"network error: {type(exc).__name__}"
            except TwilioException as exc:
                last_error = f"Twilio client error: {type(exc).__name__}"
            if attempt < self.max_attempts:
                delay = min(self.max_backoff_seconds,
                            self.backoff_seconds * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
                logger.info("SMS to %s failed (%s); retry %d/%d in %.2f s.",
                            recipient.customer_ref, last_error, attempt, self.max_attempts - 1,
                            delay)
                await self._sleep(delay)
        logger.error("SMS to %s not sent after %d attempts: %s", recipient.customer_ref,
                     self.max_attempts, last_error)
        raise SmsDeliveryFailed(self.max_attempts, last_error)


SendOutcome = Literal["sent", "refused", "failed"]


async def send_and_report(sender: Any, *, body: str, purpose: Purpose,
                          customer_id: int | None) -> tuple[SendOutcome, str]:
    """Text one customer and say how it went, for runners that record each text: ``("sent", the
    message sids)``; ``("refused", why)`` when it may not or cannot go to that number (no consent,
    opted out, rejected by Twilio: trying again would not help); ``("failed", why)`` when Twilio
    kept failing (worth another try later)."""
    try:
        result = await sender.send(body=body, purpose=purpose, customer_id=customer_id)
        return "sent", ",".join(result.sids)
    except SmsNotAllowed as exc:
        return "refused", str(exc)
    except SmsRejected as exc:
        return "refused", f"rejected by Twilio: HTTP {exc.status}, error {exc.code}"
    except (SmsDeliveryFailed, OSError) as exc:
        return "failed", str(exc)
