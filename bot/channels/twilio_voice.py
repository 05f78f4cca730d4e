"""Phone calls through Twilio: ``POST /webhooks/twilio_voice/webhook`` (Voice webhook).

Compared with Rasa's own ``twilio_voice`` channel, this one

* refuses (403) any request whose ``X-Twilio-Signature`` is missing or wrong;
* speaks and listens in the conversation's language: ``<Gather input="speech dtmf"
  language="es-ES"|"en-US" hints=...>`` with a Polly voice per language (``Polly.Lucia``,
  ``Polly.Joanna``; configurable), and an absolute ``action`` URL (``PUBLIC_BASE_URL``);
* identifies the caller by their number, as the SMS channel does (a withheld or unknown
  number is anonymous and must verify before any account change); the first turn offers
  the other language on key 9;
* never answers with an empty ``<Response/>`` (which hangs up): silence gets a reprompt,
  then the keypad is offered, then a transfer (or a polite goodbye); a turn without bot
  output gets a question; a bot message without text is simply not spoken;
* transfers to a person with ``<Dial>`` (``TWILIO_AGENT_NUMBER``) when the bot hands off
  (custom payload ``{"handoff": true}`` or the ``utter_handoff`` response), and says goodbye
  then ``<Hangup/>`` when the conversation ends (``{"end_call": true}`` or ``utter_goodbye``);
* speaks no buttons, links or emoji: buttons become "di sí o no, o pulsa 1 o 2", and a key
  press or a spoken number maps back to the button's payload on the server;
* processes each turn once (``CallSid`` + turn number in the ``action`` URL): a retried
  request gets the same TwiML again, not a second turn.

What the line says besides the bot's replies is in ``bot.channels.twilio_voice_texts``; a
call's state and the caller check in ``bot.channels.twilio_voice_calls``.

Turns are numbered in the ``action`` URL (``?turn=N&silence=S``), so the state that matters
for correctness travels with the call; the last choices and words said are kept in memory
for reprompts (bounded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from bot.channels import faults
from bot.channels.twilio_common import (
    BoundedTTLStore,
    CollectingOutput,
    FormParams,
    base_url_of,
    bcp47,
    claim,
    clean_inbound,
    conversation_state,
    e164,
    pick_language,
    profile_language,
    release,
    render_voice,
    resolve_choice,
    resume_conversation,
    server_metadata,
    signed_params,
    turn_language,
    voice_choice_prompt,
)
from bot.channels.twilio_voice_calls import CallState, caller_vouched_for
from bot.channels.twilio_voice_texts import DEFAULT_HINTS, TEXTS, other_language
from bot.config import settings

logger = logging.getLogger(__name__)

CHANNEL = "voice"
ENDED_CALL_STATUSES = frozenset({"completed", "canceled", "failed", "busy", "no-answer"})
ANSWERED_DIAL_STATUSES = frozenset({"completed", "answered"})
GREET = "/greet"
ASK_HUMAN = "/ask_human"
SWITCH_LANGUAGE_KEY = "9"
HUMAN_KEY = "0"


def twiml_reply(xml: str) -> HTTPResponse:
    return response.text(xml, content_type="text/xml; charset=utf-8")


def _int_arg(request: Request, name: str) -> int:
    try:
        return max(0, int(request.args.get(name, "0")))
    except (TypeError, ValueError):
        return 0


class TwilioVoiceInput(InputChannel):
    """Twilio Programmable Voice webhook: speech and keypad in, TwiML out."""

    @classmethod
    def name(cls) -> str:
        return "twilio_voice"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(
            auth_token=credentials.get("auth_token"),
            public_base_url=credentials.get("public_base_url"),
            agent_number=credentials.get("agent_number"),
            voice_es=credentials.get("voice_es"),
            voice_en=credentials.get("voice_en"),
            hints_es=credentials.get("hints_es"),
            hints_en=credentials.get("hints_en"),
            speech_timeout=str(credentials.get("speech_timeout", "auto")),
            speech_model=credentials.get("speech_model"),
            max_silences=int(credentials.get("max_silences", 2)),
            dial_timeout=int(credentials.get("dial_timeout", 30)),
            trust_caller_id=bool(credentials.get("trust_caller_id", True)),
        )

    def __init__(self, auth_token: str | None = None, public_base_url: str | None = None,
                 agent_number: str | None = None, voice_es: str | None = None,
                 voice_en: str | None = None, hints_es: str | None = None,
                 hints_en: str | None = None, speech_timeout: str = "auto",
                 speech_model: str | None = None, max_silences: int = 2, dial_timeout: int = 30,
                 trust_caller_id: bool = True) -> None:
        if speech_model and speech_timeout == "auto":
            raise ValueError("twilio_voice: speech_timeout 'auto' cannot be combined with a "
                             "speech_model (Twilio warning 13335); give a number of seconds")
        if speech_timeout != "auto" and not speech_timeout.isdigit():
            raise ValueError(f"twilio_voice: speech_timeout must be 'auto' or whole seconds, "
                             f"got {speech_timeout!r}")
        self._auth_token = auth_token or None
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._agent_number = agent_number or None
        self._voices = {"es": voice_es, "en": voice_en}
        self.hints = {"es": hints_es or DEFAULT_HINTS["es"], "en": hints_en or DEFAULT_HINTS["en"]}
        self.speech_timeout = speech_timeout
        self.speech_model = speech_model or None
        self.max_silences = max(1, max_silences)
        self.dial_timeout = max(5, dial_timeout)
        self.trust_caller_id = trust_caller_id
        self.calls: BoundedTTLStore[CallState] = BoundedTTLStore(max_items=5_000,
                                                                 ttl_seconds=4 * 3600)
        self.replies: BoundedTTLStore[str] = BoundedTTLStore(max_items=5_000, ttl_seconds=3600)
        if not self.auth_token:
            logger.warning("TWILIO_AUTH_TOKEN is not set: every Twilio voice webhook request "
                           "will be refused (403).")

    # --- configuration read when used (the environment may be set after start-up) ---

    @property
    def auth_token(self) -> str | None:
        return self._auth_token or settings.twilio_auth_token()

    @property
    def public_base_url(self) -> str | None:
        return self._public_base_url or settings.public_base_url()

    @property
    def agent_number(self) -> str | None:
        return self._agent_number or settings.twilio_agent_number()

    def voice(self, language: str) -> str:
        return self._voices.get(language) or settings.twilio_voice(language)

    # --- Sanic ---

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("twilio_voice_webhook", __name__)
        faults.install()
        on_new_message = faults.guarded(on_new_message)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            params = signed_params(request, self.auth_token, self.public_base_url, "voice")
            if params is None:
                return response.text("Forbidden", status=403)
            try:
                return twiml_reply(await self.handle(request, params, on_new_message))
            except Exception:  # never a 500 to a caller: apologise and keep listening
                logger.exception("The voice webhook failed.")
                return twiml_reply(str(self._apology(request, params)))

        return bp

    def action_url(self, request: Request, **query: int) -> str:
        base = base_url_of(request.url, self.public_base_url)
        return f"{base}{request.path}?{urlencode(query)}"

    async def handle(self, request: Request, params: FormParams,
                     on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str:
        """The TwiML document answering one (signed) request."""
        return str(await self._answer(request, params, on_new_message))

    async def _answer(self, request: Request, params: FormParams,
                      on_new_message: Callable[[UserMessage], Awaitable[Any]]
                      ) -> VoiceResponse | str:
        call_sid = params.first("CallSid")
        if not call_sid:
            reply = VoiceResponse()
            reply.say(TEXTS["es"]["error"], voice=self.voice("es"), language=bcp47("es"))
            reply.hangup()
            return reply
        if (params.first("CallStatus") or "").lower() in ENDED_CALL_STATUSES:
            reply = VoiceResponse()
            reply.hangup()
            return reply

        phone = e164(params.first("From"))
        state = self.calls.get(call_sid)
        known_call = state is not None
        if state is None:
            state = CallState(pick_language(await asyncio.to_thread(profile_language, phone)))
            self.calls.put(call_sid, state)
        # a <Dial> result for a call this server never transferred (a replayed or forged-looking
        # URL, or a restart): start afresh instead of claiming a case is noted
        first = "turn" not in request.args or (request.args.get("dial") == "1" and not known_call)
        turn = _int_arg(request, "turn")
        silence = _int_arg(request, "silence")

        sender_id = f"voice-{call_sid}"
        if request.args.get("dial") == "1" and known_call:
            answered = (params.first("DialCallStatus") or "").lower() in ANSWERED_DIAL_STATUSES
            if not answered:  # nobody took the call: the assistant carries on, ticket kept
                await resume_conversation(request.app, sender_id)
            paused = (await conversation_state(request.app, sender_id)).paused
            return self._after_dial(request, state, params, turn, paused)

        speech = (params.first("SpeechResult") or "").strip()
        digits = (params.first("Digits") or "").strip()
        if first:
            text = GREET
        elif digits:
            text = self._from_keypad(state, digits)
        elif speech:
            text = resolve_choice(state.choices, speech) or clean_inbound(speech)
        else:
            text = ""
        if not text:
            return self._reprompt(request, state, turn, silence + 1)

        key = f"voice:{call_sid}:{turn}"
        if not await asyncio.to_thread(claim, key):
            logger.info("Repeated delivery of turn %d of call %s.", turn, call_sid)
            cached = self.replies.get(key)
            if cached is not None:
                return cached
            return self._reprompt(request, state, turn + 1, 0, heard=True)

        collector = CollectingOutput(self.name())
        if state.stir_verstat is None and params.first("StirVerstat"):
            state.stir_verstat = params.first("StirVerstat")
        verified = caller_vouched_for(phone, state.stir_verstat, self.trust_caller_id)
        metadata = server_metadata(CHANNEL, phone, verified, extra={"twilio_call_sid": call_sid})
        try:
            await on_new_message(UserMessage(text, collector, sender_id,
                                             input_channel=self.name(), metadata=metadata))
        except Exception:
            logger.exception("The bot failed on turn %d of call %s.", turn, call_sid)
            await asyncio.to_thread(release, key)
            return self._gather(request, state, [TEXTS[state.language]["error"]], turn, 0)

        conversation = await conversation_state(request.app, sender_id)
        if conversation.paused and not self.agent_number:
            # no number to put the caller through to: the ticket waits for a callback, and the
            # assistant keeps helping in this call instead of falling silent
            await resume_conversation(request.app, sender_id)
            conversation = replace(conversation, paused=False)
        state.language = pick_language(turn_language(collector.messages), conversation.language,
                                       state.language)
        reply = self._turn_reply(request, state, collector, turn + 1, first, conversation.paused)
        self.calls.put(call_sid, state)
        self.replies.put(key, str(reply))
        return reply

    # --- building TwiML ---

    def _from_keypad(self, state: CallState, digits: str) -> str:
        payload = resolve_choice(state.choices, digits)
        if payload:
            return payload
        if digits == SWITCH_LANGUAGE_KEY:
            return f'{GREET}{{"language": "{other_language(state.language)}"}}'
        if digits == HUMAN_KEY:
            return ASK_HUMAN
        cleaned = digits.strip("#*")
        return cleaned

    def _turn_reply(self, request: Request, state: CallState, collector: CollectingOutput,
                    next_turn: int, first: bool, paused: bool = False) -> VoiceResponse:
        texts = TEXTS[state.language]
        rendered = render_voice(collector.messages, state.language)
        said = rendered.sentences
        if rendered.handoff:
            return self._transfer(request, state, said or [texts["transfer"]], next_turn)
        if rendered.end_call or (paused and not said):
            # a paused conversation belongs to a person: the assistant cannot go on
            return self._say_and_hang_up(state, said or [texts["case_noted"]])
        state.choices = rendered.choices
        if not said:
            said = [texts["anything_else"]]
        state.said = said
        return self._gather(request, state, said, next_turn, 0, offer_language=first)

    def _gather(self, request: Request, state: CallState, sentences: list[str], turn: int,
                silence: int, offer_language: bool = False,
                before: list[str] | None = None) -> VoiceResponse:
        """Say ``sentences`` while listening (the caller may interrupt), then listen again."""
        language = state.language
        action = self.action_url(request, turn=turn, silence=silence)
        reply = VoiceResponse()
        for sentence in before or []:
            reply.say(sentence, voice=self.voice(language), language=bcp47(language))
        gather = Gather(
            input="speech dtmf", language=bcp47(language), hints=self.hints[language],
            action=action, method="POST", speech_timeout=self.speech_timeout,
            speech_model=self.speech_model, action_on_empty_result=True,
            num_digits=1 if state.choices or offer_language else None,
        )
        for sentence in sentences:
            gather.say(sentence, voice=self.voice(language), language=bcp47(language))
        if offer_language:
            other = other_language(language)
            gather.say(TEXTS[other]["other_language"], voice=self.voice(other),
                       language=bcp47(other))
        reply.append(gather)
        # only reached if Twilio does not post the empty result: counts as silence
        reply.redirect(action, method="POST")
        return reply

    def _reprompt(self, request: Request, state: CallState, turn: int, silence: int,
                  heard: bool = False) -> VoiceResponse:
        """Silence: repeat, then offer the keypad, then transfer or say goodbye."""
        texts = TEXTS[state.language]
        if heard:
            return self._gather(request, state, state.said or [texts["how_can_i_help"]], turn, 0)
        if silence == 1:  # the question again, not the whole turn (no second "I'm sorry you're leaving")
            return self._gather(request, state, state.said[-1:] or [texts["how_can_i_help"]], turn,
                                silence, before=[texts["didnt_hear"]])
        if silence <= self.max_silences:
            sentences = [texts["keypad"]]
            if state.choices:
                sentences.append(voice_choice_prompt(state.choices, state.language))
            elif self.agent_number:
                sentences += [texts["keypad_human"], texts["or_say"]]
            else:
                sentences.append(texts["or_say"])
            return self._gather(request, state, sentences, turn, silence,
                                before=[texts["didnt_hear"]])
        if self.agent_number:
            return self._transfer(request, state, [texts["transfer"]], turn)
        return self._say_and_hang_up(state, [texts["give_up"]])

    def _transfer(self, request: Request, state: CallState, sentences: list[str],
                  turn: int) -> VoiceResponse:
        texts = TEXTS[state.language]
        agent = self.agent_number
        if not agent:
            state.choices = []
            return self._gather(request, state, [texts["anything_else"]], turn, 0,
                                before=[*sentences, texts["no_agent"]])
        reply = VoiceResponse()
        for sentence in sentences:
            reply.say(sentence, voice=self.voice(state.language), language=bcp47(state.language))
        dial = Dial(action=self.action_url(request, turn=turn, silence=0, dial=1), method="POST",
                    timeout=self.dial_timeout)
        if agent.lower().startswith("sip:"):
            dial.sip(agent)
        else:
            dial.number(agent)
        reply.append(dial)
        return reply

    def _say_and_hang_up(self, state: CallState, sentences: list[str]) -> VoiceResponse:
        reply = VoiceResponse()
        for sentence in sentences:
            reply.say(sentence, voice=self.voice(state.language), language=bcp47(state.language))
        reply.hangup()
        return reply

    def _after_dial(self, request: Request, state: CallState, params: FormParams,
                    turn: int, paused: bool) -> VoiceResponse:
        """Back from ``<Dial>``: hang up after the agent's call; if nobody answered, carry on
        with the assistant, or (the conversation is handed off) say the case is noted."""
        status = (params.first("DialCallStatus") or "").lower()
        if status in ANSWERED_DIAL_STATUSES:
            reply = VoiceResponse()
            reply.hangup()
            return reply
        texts = TEXTS[state.language]
        if paused:
            return self._say_and_hang_up(state, [texts["case_noted"]])
        state.choices = []
        return self._gather(request, state, [texts["anything_else"]], turn, 0,
                            before=[texts["agent_unavailable"]])

    def _apology(self, request: Request, params: FormParams) -> VoiceResponse:
        call_sid = params.first("CallSid") or ""
        state = self.calls.get(call_sid) or CallState("es")
        return self._gather(request, state, [TEXTS[state.language]["error"]],
                            _int_arg(request, "turn"), 0)

