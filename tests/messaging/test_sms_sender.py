"""The outbound SMS sender (``bot.messaging.sms``) with the real ``twilio`` client against a loopback
stand-in of Twilio's REST API: consent, retries, errors, segments and secrets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.core.customers import find_customer
from bot.messaging.sms import (
    RebasedHttpClient,
    SmsConfigError,
    SmsDeliveryFailed,
    SmsNotAllowed,
    SmsRejected,
    SmsSender,
)
from bot.storage.db import session_scope
from bot.storage.models import utcnow
from tests.support.twilio_standin import TWILIO_NUMBER, TwilioApiStandIn, module_database

LUCIA_ID, JOHN_ID, JAVIER_ID, MARTA_ID, CARLOS_ID, ELENA_ID, EMMA_ID = range(1, 8)


@pytest.fixture(scope="module")
def twilio_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from module_database(tmp_path_factory)


@pytest.fixture(scope="module")
def api() -> Iterator[TwilioApiStandIn]:
    with TwilioApiStandIn() as standin:
        yield standin


@pytest.fixture()
def standin(api: TwilioApiStandIn) -> TwilioApiStandIn:
    api.reset()
    return api


class Sleeps:
    """Records backoff delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_sender(standin: TwilioApiStandIn, sleeps: Sleeps | None = None,
                token: str | None = None, **kwargs: object) -> SmsSender:
    return SmsSender(standin.account_sid, token or standin.auth_token, TWILIO_NUMBER,
                     api_base_url=standin.base_url, sleep=sleeps or Sleeps(),
                     timeout_seconds=5, **kwargs)  # type: ignore[arg-type]


def set_customer(customer_id: int, **values: object) -> None:
    with session_scope() as session:
        customer = find_customer(session, customer_id=customer_id)
        assert customer is not None
        for name, value in values.items():
            setattr(customer, name, value)


def phone_of(customer_id: int) -> str:
    with session_scope() as session:
        customer = find_customer(session, customer_id=customer_id)
        assert customer is not None and customer.phone
        return str(customer.phone)


async def test_sends_with_basic_auth_from_our_number(twilio_db: str,
                                                     standin: TwilioApiStandIn) -> None:
    result = await make_sender(standin).send(customer_id=LUCIA_ID, purpose="marketing",
                                             body="**Hola Lucía** 🎁 tienes una oferta.")
    [request] = standin.requests
    assert request.auth_ok
    assert request.path == f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    assert request.form == {"To": phone_of(LUCIA_ID), "From": TWILIO_NUMBER,
                            "Body": "Hola Lucía tienes una oferta."}
    assert result.customer_ref == "C00001" and result.attempts == 1
    assert len(result.sids) == 1 and result.sids[0].startswith("SM")


async def test_by_customer_reference_and_service_purpose(twilio_db: str,
                                                         standin: TwilioApiStandIn) -> None:
    result = await make_sender(standin).send(customer_ref="c00002", purpose="service",
                                             body="Your bill is ready.")
    assert result.to == phone_of(JOHN_ID) == standin.messages[0]["To"]


async def test_retries_5xx_with_backoff_then_succeeds(twilio_db: str,
                                                      standin: TwilioApiStandIn) -> None:
    standin.fail_next(2, 500, 20500, "Internal Server Error")
    sleeps = Sleeps()
    result = await make_sender(standin, sleeps, backoff_seconds=0.5).send(
        customer_id=LUCIA_ID, purpose="service", body="Aviso de servicio.")
    assert result.attempts == 3 and len(standin.requests) == 3
    assert len(sleeps.delays) == 2
    assert 0.4 <= sleeps.delays[0] <= 0.6 and 0.8 <= sleeps.delays[1] <= 1.2  # exponential


async def test_retries_throttling_and_dropped_connections(twilio_db: str,
                                                          standin: TwilioApiStandIn) -> None:
    standin.fail_next(1, 429, 20429, "Too Many Requests")
    standin.fail_next(1, 0)  # the connection drops without an answer
    result = await make_sender(standin).send(customer_id=LUCIA_ID, purpose="service",
                                             body="Aviso.")
    assert result.attempts == 3


async def test_gives_up_after_the_last_attempt(twilio_db: str,
                                               standin: TwilioApiStandIn) -> None:
    standin.fail_next(10, 503, 20503, "Service Unavailable")
    with pytest.raises(SmsDeliveryFailed) as failure:
        await make_sender(standin, max_attempts=3).send(customer_id=LUCIA_ID,
                                                        purpose="service", body="Aviso.")
    assert failure.value.attempts == 3 and "503" in str(failure.value)
    assert len(standin.requests) == 3


async def test_4xx_is_a_clear_error_without_retry(twilio_db: str,
                                                  standin: TwilioApiStandIn) -> None:
    set_customer(CARLOS_ID, phone="+15005550001")  # Twilio's magic "invalid number"
    standin.fail_number("+15005550001", 400, 21211,
                        "The 'To' number +15005550001 is not a valid phone number.")
    try:
        with pytest.raises(SmsRejected) as rejected:
            await make_sender(standin).send(customer_id=CARLOS_ID, purpose="service",
                                            body="Aviso.")
    finally:
        set_customer(CARLOS_ID, phone="+447700900004")
    assert rejected.value.status == 400 and rejected.value.code == 21211
    assert "not a valid phone number" in str(rejected.value)
    assert len(standin.requests) == 1


async def test_twilio_opt_out_error_records_the_opt_out(twilio_db: str,
                                                        standin: TwilioApiStandIn) -> None:
    standin.fail_number(phone_of(ELENA_ID), 400, 21610,
                        "Attempt to send to unsubscribed recipient")
    with pytest.raises(SmsRejected):
        await make_sender(standin).send(customer_id=ELENA_ID, purpose="service", body="Aviso.")
    with pytest.raises(SmsNotAllowed, match="opted out"):
        await make_sender(standin).send(customer_id=ELENA_ID, purpose="service", body="Aviso.")
    assert len(standin.requests) == 1


async def test_no_consent_is_refused_before_any_http_call(twilio_db: str,
                                                          standin: TwilioApiStandIn) -> None:
    set_customer(JAVIER_ID, consent_sms_marketing=False, consent_sms_service=True)
    sender = make_sender(standin)
    with pytest.raises(SmsNotAllowed, match="no consent to marketing") as refused:
        await sender.send(customer_id=JAVIER_ID, purpose="marketing", body="Oferta.")
    assert refused.value.customer_ref == "C00003"
    set_customer(JAVIER_ID, consent_sms_service=False)
    with pytest.raises(SmsNotAllowed, match="no consent to service"):
        await sender.send(customer_id=JAVIER_ID, purpose="service", body="Aviso.")
    set_customer(MARTA_ID, phone=None)
    with pytest.raises(SmsNotAllowed, match="no valid mobile number"):
        await sender.send(customer_id=MARTA_ID, purpose="service", body="Aviso.")
    with pytest.raises(SmsNotAllowed, match="no such customer"):
        await sender.send(customer_ref="C99999", purpose="service", body="Aviso.")
    assert standin.requests == []


async def test_opted_out_customer_is_refused(twilio_db: str, standin: TwilioApiStandIn) -> None:
    set_customer(EMMA_ID, sms_opted_out_at=datetime(2026, 1, 2, 3, 4, 5))
    for purpose in ("marketing", "service"):
        with pytest.raises(SmsNotAllowed, match="opted out of SMS on 2026-01-02"):
            await make_sender(standin).send(customer_id=EMMA_ID, purpose=purpose,  # type: ignore[arg-type]
                                            body="Hi.")
    assert standin.requests == []


async def test_long_body_goes_out_as_ordered_segments(twilio_db: str,
                                                      standin: TwilioApiStandIn) -> None:
    body = " ".join(f"Frase {i} de un mensaje bastante largo para la campaña." for i in range(80))
    result = await make_sender(standin).send(customer_id=LUCIA_ID, purpose="marketing", body=body)
    bodies = [m["Body"] for m in standin.messages]
    assert len(result.sids) == len(bodies) >= 3
    assert all(len(b) <= 1600 for b in bodies)
    assert [b.split(" ", 1)[0] for b in bodies] == [f"({i}/{len(bodies)})"
                                                    for i in range(1, len(bodies) + 1)]


async def test_the_event_loop_keeps_running_while_sending(twilio_db: str,
                                                          standin: TwilioApiStandIn) -> None:
    """Each API call takes 0.15 s; a blocking client would freeze the ticker meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    standin.delay_seconds = 0.15
    standin.fail_next(1, 500)
    task = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        result = await make_sender(standin).send(customer_id=LUCIA_ID, purpose="service",
                                                 body="Aviso.")
    finally:
        done.set()
        await task
        standin.delay_seconds = 0.0
    elapsed = time.monotonic() - started
    assert result.attempts == 2 and elapsed >= 0.3
    assert ticks >= 20, ticks


async def test_auth_token_never_appears_in_logs_errors_or_repr(
        twilio_db: str, standin: TwilioApiStandIn, caplog: pytest.LogCaptureFixture) -> None:
    sender = make_sender(standin)
    wrong = make_sender(standin, token="wrong-token-" + "8" * 20)
    with caplog.at_level(logging.DEBUG):
        await sender.send(customer_id=LUCIA_ID, purpose="service", body="Aviso.")
        standin.fail_next(1, 500)
        await sender.send(customer_id=LUCIA_ID, purpose="service", body="Aviso.")
        with pytest.raises(SmsRejected) as unauthorised:
            await wrong.send(customer_id=LUCIA_ID, purpose="service", body="Aviso.")
    assert unauthorised.value.status == 401
    texts = [caplog.text, repr(sender), str(unauthorised.value), repr(unauthorised.value)]
    for text in texts:
        assert standin.auth_token not in text
        assert "wrong-token-" not in text
    assert any("twilio" in r.name for r in caplog.records)  # the library did log


def test_configuration_is_required() -> None:
    with pytest.raises(SmsConfigError):
        SmsSender(None, "token", TWILIO_NUMBER)
    with pytest.raises(SmsConfigError):
        SmsSender("AC" + "0" * 32, "token", "not a number")


def test_from_env(monkeypatch: pytest.MonkeyPatch, standin: TwilioApiStandIn) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", standin.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", standin.auth_token)
    monkeypatch.setenv("TWILIO_NUMBER", TWILIO_NUMBER)
    monkeypatch.setenv("TWILIO_API_BASE_URL", standin.base_url + "/")
    sender = SmsSender.from_env()
    assert sender.from_number == TWILIO_NUMBER
    assert isinstance(sender._client.http_client, RebasedHttpClient)


async def test_without_twilio_the_demo_phone_receives_the_texts(
        twilio_db: str, standin: TwilioApiStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """make run's demo (SMS_DEMO_PHONE=1, no Twilio): texts go to the demo phone, with every
    consent rule; real Twilio settings win over it; without either, nothing can be sent."""
    from bot.messaging import demo_phone
    from bot.messaging.sms import sms_configured

    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER", "TWILIO_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEMO_PHONE_PATH", str(tmp_path / "demo_phone.db"))
    monkeypatch.delenv("SMS_DEMO_PHONE", raising=False)
    assert not sms_configured()
    with pytest.raises(SmsConfigError):
        SmsSender.from_env()
    monkeypatch.setenv("SMS_DEMO_PHONE", "1")
    assert sms_configured()
    result = await SmsSender.from_env().send(customer_id=LUCIA_ID, purpose="service", body="Tu código es 123456.")
    [text] = demo_phone.texts_to([phone_of(LUCIA_ID)])
    assert text.body == "Tu código es 123456." and result.sids == (text.sid,)
    assert standin.requests == []  # nothing went to Twilio
    set_customer(JOHN_ID, sms_opted_out_at=utcnow())
    try:
        with pytest.raises(SmsNotAllowed):
            await SmsSender.from_env().send(customer_id=JOHN_ID, purpose="service", body="x")
    finally:
        set_customer(JOHN_ID, sms_opted_out_at=None)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", standin.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", standin.auth_token)
    monkeypatch.setenv("TWILIO_NUMBER", TWILIO_NUMBER)
    monkeypatch.setenv("TWILIO_API_BASE_URL", standin.base_url + "/")
    await SmsSender.from_env().send(customer_id=LUCIA_ID, purpose="service", body="Por Twilio.")
    assert standin.messages[-1]["Body"] == "Por Twilio." and len(demo_phone.texts_to([phone_of(LUCIA_ID)])) == 1


def test_rebased_client_keeps_path_and_query() -> None:
    client = RebasedHttpClient("http://127.0.0.1:9/prefix/")
    assert client.base.netloc == "127.0.0.1:9" and client.prefix == "/prefix"
    with pytest.raises(ValueError):
        RebasedHttpClient("127.0.0.1:9")


async def test_unknown_purpose_is_a_programming_error(twilio_db: str,
                                                      standin: TwilioApiStandIn) -> None:
    with pytest.raises(ValueError):
        await make_sender(standin).send(customer_id=LUCIA_ID, purpose="spam",  # type: ignore[arg-type]
                                        body="x")


# --- agent replies: the SMS channel's output channel (Rasa API, output_channel=latest) -------


async def test_sms_channel_output_texts_an_agents_reply(twilio_db: str,
                                                        standin: TwilioApiStandIn) -> None:
    from bot.channels.twilio_sms import TwilioSMSInput

    channel = TwilioSMSInput(auth_token="unused", sender=make_sender(standin))
    output = channel.get_output_channel()
    assert output is not None and output.name() == "twilio"
    await output.send_response(f"sms-{phone_of(LUCIA_ID)}", {
        "text": "Hola Lucía, soy **Ana** del equipo 🙂. ¿Te va bien?",
        "buttons": [{"title": "Sí", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]})
    [form] = standin.messages
    assert form["To"] == phone_of(LUCIA_ID)
    assert form["Body"] == "Hola Lucía, soy Ana del equipo. ¿Te va bien?\n1. Sí\n2. No\nResponde 1 o 2."
    assert channel.choices.get(f"sms-{phone_of(LUCIA_ID)}")  # "1"/"2" will map back


async def test_sms_channel_output_answers_unknown_numbers_but_never_after_opt_out(
        twilio_db: str, standin: TwilioApiStandIn) -> None:
    from bot.channels.twilio_sms import TwilioSMSInput

    channel = TwilioSMSInput(auth_token="unused", sender=make_sender(standin))
    output = channel.get_output_channel()
    assert output is not None
    await output.send_response("sms-+15005550009", {"text": "Hi, this is Ana."})
    assert standin.messages[-1]["To"] == "+15005550009"
    set_customer(MARTA_ID, phone="+447700900003", sms_opted_out_at=datetime(2026, 3, 1))
    with pytest.raises(SmsNotAllowed):
        await output.send_response("sms-+447700900003", {"text": "Hola Marta."})
    await output.send_response("web-C00001-abc", {"text": "not an SMS conversation"})
    assert len(standin.requests) == 1


def test_sms_channel_without_twilio_credentials_has_no_output(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels.twilio_sms import TwilioSMSInput

    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    assert TwilioSMSInput(auth_token="unused").get_output_channel() is None
