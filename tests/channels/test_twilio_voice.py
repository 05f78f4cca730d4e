"""The Twilio voice channel: the channel alone (scripted bot) and whole calls on the stack.

Every request is signed with the real ``twilio`` ``RequestValidator``; every answer is TwiML
parsed with ``xml.etree`` and checked: ``<Gather>`` language, hints and absolute ``action``
URL, the ``<Say>`` voice, reprompts, ``<Dial>`` and ``<Hangup>``, and never an empty
``<Response/>``.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rasa.core.channels.channel import UserMessage
from twilio.request_validator import RequestValidator

from bot.channels.faults import FAULT_TEXT
from bot.channels.twilio_rendering import BotMessage, render_voice, speakable, voice_choice_prompt
from bot.channels.twilio_voice import TwilioVoiceInput
from bot.channels.twilio_voice_texts import TEXTS
from bot.storage import outbox
from tests.support.twilio_standin import (
    AGENT_NUMBER,
    PUBLIC_BASE_URL,
    VOICE_WEBHOOK,
    ChannelHarness,
    TwilioStack,
    WebhookReply,
    call_params,
    module_database,
    shared_twilio_stack,
)

TOKEN = "voice-test-token-" + "5" * 15
CARLOS = "+447700900004"  # C00005, Spanish
EMMA = "+447700900006"  # C00007, English
UNKNOWN = "+15005550009"
OFFER = [{"text": "Te aplicamos un **15 %** de descuento 🎉. ¿Te interesa?",
          "buttons": [{"title": "Sí, me interesa", "payload": "/affirm"},
                      {"title": "No, quiero la baja", "payload": "/cancel_firm"}]}]


@pytest.fixture(scope="module")
def twilio_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from module_database(tmp_path_factory)


@pytest.fixture(scope="session")
def twilio_stack() -> Iterator[TwilioStack]:
    yield from shared_twilio_stack()


# --- reading TwiML ------------------------------------------------------------------------


def parse(reply: WebhookReply) -> ET.Element:
    assert reply.status == 200, reply
    root = ET.fromstring(reply.body)
    assert root.tag == "Response"
    assert len(root) > 0, "an empty <Response/> hangs up the call"
    return root


def the_gather(root: ET.Element) -> ET.Element:
    gathers = root.findall("Gather")
    assert len(gathers) == 1, ET.tostring(root, encoding="unicode")
    return gathers[0]


def said(element: ET.Element) -> str:
    return " ".join((say.text or "") for say in element.iter("Say"))


def check_gather(root: ET.Element, language: str, voice: str) -> ET.Element:
    """The ``<Gather>`` listens in ``language`` with an absolute action URL, and the
    ``<Redirect>`` after it keeps the call alive if Twilio does not post an empty result."""
    gather = the_gather(root)
    assert gather.get("input") == "speech dtmf"
    assert gather.get("language") == language
    assert gather.get("speechTimeout") == "auto"
    assert gather.get("actionOnEmptyResult") == "true"
    assert gather.get("method") == "POST"
    assert gather.get("hints")
    action = gather.get("action") or ""
    assert action.startswith(PUBLIC_BASE_URL + VOICE_WEBHOOK + "?"), action
    says = [s for s in root.iter("Say") if s.get("language") == language]
    assert says and all(s.get("voice") == voice for s in says)
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == action
    return gather


def action_query(gather: ET.Element) -> str:
    return urlsplit(gather.get("action") or "").query


def no_markup(text: str) -> None:
    assert not re.search("[\U0001F000-\U0001FAFF\u2600-\u27BF]", text), text
    for mark in ("**", "http", "/affirm", "/cancel_firm", "](", "_"):
        assert mark not in text, (mark, text)


# === pure parts ==============================================================================


def test_spoken_text_has_no_links_markdown_or_emoji() -> None:
    text = "**Hecho** 🎉\nMira tu plan aquí: https://nubia.example/plan/abc_123 o en [la web](https://x.example)."
    spoken = speakable(text)
    assert spoken == "Hecho. Mira tu plan aquí o en la web."
    no_markup(spoken)


def test_spoken_choices() -> None:
    yes_no = BotMessage.from_rasa(OFFER[0]).choices
    assert voice_choice_prompt(yes_no, "es") == "Di sí o no, o pulsa 1 o 2."
    assert voice_choice_prompt(yes_no, "en") == "Say yes or no, or press 1 or 2."
    reasons = BotMessage.from_rasa({"text": "?", "buttons": [
        {"title": "Es muy caro", "payload": "/reason_price"},
        {"title": "Me mudo", "payload": "/reason_relocation"},
        {"title": "El servicio falla", "payload": "/reason_service_failure"}]}).choices
    prompt = voice_choice_prompt(reasons, "es")
    assert "1: Es muy caro. 2: Me mudo. 3: El servicio falla." in prompt
    assert prompt.endswith("Pulsa 1, 2 o 3.")


def test_render_voice_flags() -> None:
    rendered = render_voice([BotMessage.from_rasa({"custom": {"handoff": True}}),
                             BotMessage.from_rasa({"image": "https://x.example/a.png"})], "es")
    assert rendered.sentences == [] and rendered.handoff and not rendered.end_call
    goodbye = render_voice([BotMessage.from_rasa({"text": "Adiós", "utter_action": "utter_goodbye"})],
                           "es")
    assert goodbye.end_call and goodbye.sentences == ["Adiós."]


# === the channel alone ========================================================================


def scripted(replies: dict[str, list[dict[str, Any]]]) -> Any:
    def bot(message: UserMessage) -> list[dict[str, Any]]:
        return [dict(r) for r in replies.get(message.text or "", [{"text": "Vale."}])]
    return bot


def channel(agent: str | None = AGENT_NUMBER) -> TwilioVoiceInput:
    return TwilioVoiceInput(auth_token=TOKEN, public_base_url=PUBLIC_BASE_URL, agent_number=agent)


@pytest.fixture()
def no_agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_AGENT_NUMBER", raising=False)


class Call:
    """One phone call against a harness: keeps the CallSid and follows the action URLs."""

    def __init__(self, harness: ChannelHarness, phone: str) -> None:
        self.harness = harness
        self.phone = phone
        self.sid = "CA" + uuid.uuid4().hex
        self.next_query = ""

    async def post(self, query: str | None = None, **params: str) -> ET.Element:
        form = call_params(self.sid, self.phone, **params)
        reply = await self.harness.post(form, query if query is not None else self.next_query)
        root = parse(reply)
        gathers = root.findall("Gather")
        if gathers:
            self.next_query = action_query(gathers[0])
        return root

    async def start(self) -> ET.Element:
        return await self.post("")

    async def say(self, text: str) -> ET.Element:
        return await self.post(CallStatus="in-progress", SpeechResult=text, Confidence="0.9")

    async def press(self, digits: str) -> ET.Element:
        return await self.post(CallStatus="in-progress", Digits=digits)

    async def silence(self) -> ET.Element:
        return await self.post(CallStatus="in-progress")


async def test_call_starts_in_the_customers_language(twilio_db: str) -> None:
    async with ChannelHarness(channel(), scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        spanish = await Call(harness, CARLOS).start()
        gather = check_gather(spanish, "es-ES", "Polly.Lucia")
        assert parse_qs(action_query(gather)) == {"turn": ["1"], "silence": ["0"]}
        # the other language is offered on key 9, in its own voice
        english_offer = [s for s in gather.iter("Say") if s.get("language") == "en-US"]
        assert [s.text for s in english_offer] == ["For English, press 9."]
        assert english_offer[0].get("voice") == "Polly.Joanna"

        english = await Call(harness, EMMA).start()
        check_gather(english, "en-US", "Polly.Joanna")
        assert harness.received[0].text == "/greet"
        assert harness.received[0].metadata["customer_phone"] == CARLOS
        assert harness.received[0].metadata["phone_verified"] is True
        assert harness.received[0].metadata["channel"] == "voice"
        assert harness.received[0].sender_id.startswith("voice-CA")


async def test_forged_signature_gets_403_and_no_turn(twilio_db: str) -> None:
    async with ChannelHarness(channel(), scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        params = call_params("CA" + uuid.uuid4().hex, CARLOS)
        forged = RequestValidator("x" * 32).compute_signature(
            PUBLIC_BASE_URL + harness.webhook, params)
        assert (await harness.post(params, signature=forged)).status == 403
        assert (await harness.post(params, signed=False)).status == 403
        # a valid signature for another turn does not carry over to this one
        other_turn = harness.signature(harness.webhook + "?turn=1&silence=0", params)
        assert (await harness.post(params, "turn=2&silence=0", signature=other_turn)).status == 403
        assert harness.received == []


async def test_buttons_are_spoken_and_keys_or_spoken_numbers_pick_them(twilio_db: str) -> None:
    bot = scripted({"quiero la baja": OFFER, "/cancel_firm": [{"text": "Baja tramitada."}],
                    "/affirm": [{"text": "Hecho."}]})
    async with ChannelHarness(channel(), bot, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        offer = await call.say("quiero la baja")
        gather = check_gather(offer, "es-ES", "Polly.Lucia")
        assert gather.get("numDigits") == "1"
        spoken = said(gather)
        assert spoken.endswith("¿Te interesa? Di sí o no, o pulsa 1 o 2.")
        no_markup(spoken)
        assert "Sí, me interesa" not in spoken  # no button titles read out as buttons
        await call.press("2")
        assert harness.received[-1].text == "/cancel_firm"

        second = Call(harness, CARLOS)
        await second.start()
        await second.say("quiero la baja")
        await second.say("uno")
        assert harness.received[-1].text == "/affirm"


async def test_silence_reprompts_then_offers_the_keypad_then_transfers(twilio_db: str) -> None:
    async with ChannelHarness(channel(), scripted({"hola": OFFER}), TOKEN,
                              PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        await call.say("hola")
        first = await call.silence()
        assert first.find("Say") is not None and first.find("Say").text == TEXTS["es"]["didnt_hear"]
        gather = check_gather(first, "es-ES", "Polly.Lucia")
        assert parse_qs(action_query(gather)) == {"turn": ["2"], "silence": ["1"]}
        assert "¿Te interesa?" in said(gather)  # the question again

        second = await call.silence()
        gather = check_gather(second, "es-ES", "Polly.Lucia")
        assert TEXTS["es"]["keypad"] in said(gather)
        assert "pulsa 1 o 2" in said(gather)
        assert parse_qs(action_query(gather))["silence"] == ["2"]

        third = await call.silence()
        dial = third.find("Dial")
        assert dial is not None and dial.findtext("Number") == AGENT_NUMBER
        assert len(harness.received) == 2  # silence never reached the bot

        # the caller answers after a silence: that is turn 2 for the bot
        call2 = Call(harness, CARLOS)
        await call2.start()
        await call2.say("hola")
        await call2.silence()
        await call2.press("1")
        assert harness.received[-1].text == "/affirm"


async def test_silence_repeats_the_question_not_the_whole_turn(twilio_db: str) -> None:
    """After a silence the caller hears the question again, not the apology that opened the turn."""
    turn = [{"text": "Siento que estés pensando en dejarnos."}, *OFFER]
    async with ChannelHarness(channel(), scripted({"me quiero dar de baja": turn}), TOKEN,
                              PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        first = said(await call.say("me quiero dar de baja"))
        assert "Siento que estés pensando en dejarnos." in first and "¿Te interesa?" in first
        again = said(await call.silence())
        assert "¿Te interesa?" in again and "Siento que estés pensando" not in again, again


async def test_silence_without_agent_ends_politely(twilio_db: str, no_agent_env: None) -> None:
    async with ChannelHarness(channel(agent=None), scripted({}), TOKEN,
                              PUBLIC_BASE_URL) as harness:
        call = Call(harness, UNKNOWN)
        start = await call.start()
        check_gather(start, "es-ES", "Polly.Lucia")  # unknown number: Spanish
        await call.silence()
        keypad = await call.silence()
        assert TEXTS["es"]["keypad_human"] not in said(keypad)  # no person to offer
        last = await call.silence()
        assert [child.tag for child in last] == ["Say", "Hangup"]
        assert last.find("Say").text == TEXTS["es"]["give_up"]


async def test_handoff_dials_the_agent(twilio_db: str) -> None:
    bot = scripted({"una persona": [{"text": "Te paso con una persona."},
                                    {"custom": {"handoff": True}}]})
    async with ChannelHarness(channel(), bot, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        root = await call.say("una persona")
        assert [child.tag for child in root] == ["Say", "Dial"]
        assert root.find("Say").text == "Te paso con una persona."
        dial = root.find("Dial")
        assert dial.findtext("Number") == AGENT_NUMBER
        dial_action = dial.get("action") or ""
        assert dial_action.startswith(PUBLIC_BASE_URL + VOICE_WEBHOOK + "?")
        query = urlsplit(dial_action).query
        # nobody answers: back to the assistant, still listening
        unanswered = await call.post(query, CallStatus="in-progress", DialCallStatus="no-answer")
        assert TEXTS["es"]["agent_unavailable"] in said(unanswered)
        check_gather(unanswered, "es-ES", "Polly.Lucia")
        # the agent took the call and it ended: hang up
        answered = await call.post(query, CallStatus="in-progress", DialCallStatus="completed")
        assert [child.tag for child in answered] == ["Hangup"]


async def test_unanswered_transfer_of_a_handed_off_call_ends_politely(twilio_db: str) -> None:
    bot = scripted({"una persona": [{"text": "Te paso con una persona."},
                                    {"custom": {"handoff": True}}],
                    "¿hola?": []})  # Rasa says nothing in a paused conversation
    async with ChannelHarness(channel(), bot, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        root = await call.say("una persona")
        harness.trackers[harness.received[-1].sender_id] = ("es", True)  # the action paused it
        query = urlsplit(root.find("Dial").get("action") or "").query
        busy = await call.post(query, CallStatus="in-progress", DialCallStatus="busy")
        assert [child.tag for child in busy] == ["Say", "Hangup"]
        assert busy.find("Say").text == TEXTS["es"]["case_noted"]
        # a turn of a paused conversation (no bot output) ends the same way
        quiet = await call.post("turn=9&silence=0", CallStatus="in-progress", SpeechResult="¿hola?")
        assert [child.tag for child in quiet] == ["Say", "Hangup"]


async def test_a_call_whose_number_failed_attestation_is_not_the_customer(twilio_db: str) -> None:
    """Caller ID can be spoofed: when the carrier says so (STIR/SHAKEN failed), the number proves
    nothing and the caller goes through the identity check like an anonymous visitor."""
    async with ChannelHarness(channel(), scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        spoofed = Call(harness, CARLOS)
        await spoofed.post("", StirVerstat="TN-Validation-Failed-A")
        await spoofed.say("quiero darme de baja")
        attested = Call(harness, CARLOS)
        await attested.post("", StirVerstat="TN-Validation-Passed-A")
        gateway = Call(harness, CARLOS)  # the carrier cannot vouch for the number either
        await gateway.post("", StirVerstat="TN-Validation-Passed-C")
        unvalidated = Call(harness, CARLOS)
        await unvalidated.post("", StirVerstat="No-TN-Validation")
        plain = Call(harness, CARLOS)
        await plain.start()
    by_call = {m.sender_id: m.metadata["phone_verified"] for m in harness.received}
    assert by_call[f"voice-{spoofed.sid}"] is False
    assert by_call[f"voice-{attested.sid}"] is True
    assert by_call[f"voice-{gateway.sid}"] is False and by_call[f"voice-{unvalidated.sid}"] is False
    assert by_call[f"voice-{plain.sid}"] is True  # no attestation: trust_caller_id (the default) decides


async def test_dial_result_of_an_unknown_call_starts_afresh(twilio_db: str) -> None:
    """A signed ``?dial=1`` for a call this server never transferred claims no noted case."""
    async with ChannelHarness(channel(), scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        root = await call.post("turn=3&silence=0&dial=1", CallStatus="in-progress", DialCallStatus="no-answer")
        spoken = said(root)
        assert "anotado" not in spoken and TEXTS["es"]["agent_unavailable"] not in spoken
        check_gather(root, "es-ES", "Polly.Lucia")
        assert [m.text for m in harness.received] == ["/greet"]  # a new call's greeting, nothing resumed


async def test_handoff_without_agent_keeps_the_call(twilio_db: str, no_agent_env: None) -> None:
    bot = scripted({"agent": [{"text": "Passing you to a person.", "utter_action": "utter_handoff"}]})
    async with ChannelHarness(channel(agent=None), bot, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, EMMA)
        await call.start()
        root = await call.say("agent")
        assert root.find("Dial") is None
        assert TEXTS["en"]["no_agent"] in said(root)
        check_gather(root, "en-US", "Polly.Joanna")


async def test_goodbye_hangs_up_after_speaking(twilio_db: str) -> None:
    bot = scripted({"adiós": [{"text": "¡Hasta pronto! 👋", "custom": {"end_call": True}}],
                    "bye": [{"text": "Have a great day!", "utter_action": "utter_goodbye"}]})
    async with ChannelHarness(channel(), bot, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        root = await call.say("adiós")
        assert [child.tag for child in root] == ["Say", "Hangup"]
        assert root.find("Say").text == "¡Hasta pronto!"
        assert root.find("Say").get("voice") == "Polly.Lucia"
        call = Call(harness, EMMA)
        await call.start()
        assert [child.tag for child in await call.say("bye")] == ["Say", "Hangup"]


async def test_turn_without_text_or_output_never_fails_nor_hangs_up(twilio_db: str) -> None:
    bot = scripted({"custom": [{"custom": {"anything": 1}}, {"image": "https://x.example/i.png"}],
                    "nothing": []})
    async with ChannelHarness(channel(), bot, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        for text in ("custom", "nothing"):
            root = await call.say(text)
            gather = check_gather(root, "es-ES", "Polly.Lucia")
            assert said(gather) == TEXTS["es"]["anything_else"]


async def test_bot_failure_apologises_and_keeps_listening(twilio_db: str) -> None:
    def broken(message: UserMessage) -> list[dict[str, Any]]:
        if message.text == "/greet":
            return [{"text": "Hola."}]
        raise RuntimeError("boom")

    async with ChannelHarness(channel(), broken, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        root = await call.say("hola")
        assert FAULT_TEXT["es"] in said(check_gather(root, "es-ES", "Polly.Lucia"))
        [kept] = outbox.entries(outbox.PENDING)
        assert kept.text == "hola" and kept.conversation_id.startswith("voice-")


async def test_language_follows_the_conversation(twilio_db: str) -> None:
    bot = scripted({'/greet{"language": "en"}': [{"text": "Hi! How can I help?",
                                                  "custom": {"language": "en"}}]})
    async with ChannelHarness(channel(), bot, TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, UNKNOWN)
        check_gather(await call.start(), "es-ES", "Polly.Lucia")
        switched = await call.press("9")
        assert harness.received[-1].text == '/greet{"language": "en"}'
        check_gather(switched, "en-US", "Polly.Joanna")
        assert "For English" not in said(switched)
        quiet = await call.silence()  # reprompts stay in English
        assert quiet.find("Say").text == TEXTS["en"]["didnt_hear"]


async def test_a_retried_turn_gets_the_same_answer_and_one_turn(twilio_db: str) -> None:
    async with ChannelHarness(channel(), scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        call = Call(harness, CARLOS)
        await call.start()
        query = call.next_query
        form = call_params(call.sid, CARLOS, CallStatus="in-progress", SpeechResult="hola")
        first = await harness.post(form, query)
        again = await harness.post(form, query)
        assert first.body == again.body
        assert [m.text for m in harness.received] == ["/greet", "hola"]


async def test_ended_call_and_missing_call_sid(twilio_db: str) -> None:
    async with ChannelHarness(channel(), scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        ended = parse(await harness.post(call_params("CA" + uuid.uuid4().hex, CARLOS,
                                                     CallStatus="completed")))
        assert [child.tag for child in ended] == ["Hangup"]
        params = call_params("", CARLOS)
        broken = parse(await harness.post(params))
        assert [child.tag for child in broken] == ["Say", "Hangup"]
        assert harness.received == []


def test_speech_timeout_auto_cannot_be_combined_with_a_speech_model() -> None:
    with pytest.raises(ValueError, match="13335"):
        TwilioVoiceInput(auth_token=TOKEN, speech_model="phone_call")
    TwilioVoiceInput(auth_token=TOKEN, speech_model="phone_call", speech_timeout="3")
    with pytest.raises(ValueError):
        TwilioVoiceInput(auth_token=TOKEN, speech_timeout="soon")


# === whole calls on the stack =================================================================


class StackCall:
    def __init__(self, twilio_stack: TwilioStack, phone: str) -> None:
        self.twilio_stack = twilio_stack
        self.phone = phone
        self.sid = "CA" + uuid.uuid4().hex
        self.path = VOICE_WEBHOOK

    def post(self, **params: str) -> ET.Element:
        reply = self.twilio_stack.caller.post(self.path, call_params(self.sid, self.phone,
                                                                     **params))
        root = parse(reply)
        gather = root.find("Gather")
        if gather is not None:
            self.path = VOICE_WEBHOOK + "?" + action_query(gather)
        return root

    def say(self, text: str) -> ET.Element:
        return self.post(CallStatus="in-progress", SpeechResult=text, Confidence="0.87")


@pytest.mark.e2e
def test_stack_spanish_call_offer_keypad_accept_and_goodbye(twilio_stack: TwilioStack) -> None:
    call = StackCall(twilio_stack, CARLOS)
    greeting = call.post(CallStatus="ringing")
    gather = check_gather(greeting, "es-ES", "Polly.Lucia")
    assert "Carlos" in said(gather)

    offer = call.say("quiero darme de baja porque es muy caro")
    gather = check_gather(offer, "es-ES", "Polly.Lucia")
    spoken = said(gather)
    no_markup(spoken)
    assert spoken.endswith("Di sí o no, o pulsa 1 o 2."), spoken

    reprompt = call.post(CallStatus="in-progress", SpeechResult="")
    assert reprompt.find("Say").text == TEXTS["es"]["didnt_hear"]
    check_gather(reprompt, "es-ES", "Polly.Lucia")

    accepted = call.post(CallStatus="in-progress", Digits="1")
    spoken = said(check_gather(accepted, "es-ES", "Polly.Lucia"))
    assert re.search(r"referencia es [A-Z]+-[A-Z0-9]+", spoken), spoken

    goodbye = call.say("adiós, gracias")
    assert [child.tag for child in goodbye][-1] == "Hangup", ET.tostring(goodbye, "unicode")
    assert goodbye.find("Say") is not None


@pytest.mark.e2e
def test_stack_english_call_asks_for_a_person_and_is_transferred(
        twilio_stack: TwilioStack) -> None:
    call = StackCall(twilio_stack, EMMA)
    check_gather(call.post(CallStatus="ringing"), "en-US", "Polly.Joanna")
    transfer = call.say("I want to talk to a person")
    assert [child.tag for child in transfer] == ["Say", "Dial"], ET.tostring(transfer, "unicode")
    assert transfer.find("Say").get("voice") == "Polly.Joanna"
    dial = transfer.find("Dial")
    assert dial.findtext("Number") == AGENT_NUMBER
    assert (dial.get("action") or "").startswith(PUBLIC_BASE_URL + VOICE_WEBHOOK + "?")


@pytest.mark.e2e
def test_stack_refuses_forged_voice_requests(twilio_stack: TwilioStack) -> None:
    params = call_params("CA" + uuid.uuid4().hex, CARLOS)
    forged = RequestValidator("y" * 32).compute_signature(PUBLIC_BASE_URL + VOICE_WEBHOOK, params)
    assert twilio_stack.caller.post(VOICE_WEBHOOK, params, signature=forged).status == 403
    assert twilio_stack.caller.post(VOICE_WEBHOOK, params, signed=False).status == 403


@pytest.mark.e2e
def test_stack_unknown_caller_switches_to_english_with_key_9(twilio_stack: TwilioStack) -> None:
    call = StackCall(twilio_stack, UNKNOWN)
    start = call.post(CallStatus="ringing")
    check_gather(start, "es-ES", "Polly.Lucia")
    assert "For English, press 9." in said(start)
    english = call.post(CallStatus="in-progress", Digits="9")
    gather = check_gather(english, "en-US", "Polly.Joanna")
    assert "Nubia Telecom" in said(gather) and "Hola" not in said(gather)
    follow_up = call.say("I want to cancel my contract")
    check_gather(follow_up, "en-US", "Polly.Joanna")


@pytest.mark.parametrize(("language", "words"), [("es", "teclado"), ("en", "keypad")])
@pytest.mark.parametrize("utter", ["utter_verify_code_sent", "utter_verify_code_format"])
async def test_a_caller_is_asked_to_say_or_key_in_the_code_not_to_type_it(
        utter: str, language: str, words: str) -> None:
    """Unknown callers are verified by the texted code too: "¿Me lo escribes aquí?" made no
    sense on a call."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    from tests.support.stack import PROJECT_ROOT

    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    tracker = DialogueStateTracker.from_events("voice-x", [SlotSet("language", language)], domain.slots)
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    spoken = await nlg.generate(utter, tracker, "twilio_voice", phone_end="123")
    written = await nlg.generate(utter, tracker, "twilio", phone_end="123")
    assert words in spoken["text"] and words not in written["text"], (spoken, written)
