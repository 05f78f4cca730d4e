"""End-to-end: a real Chromium talks to the website's chat widget, which talks to Rasa.

Needs the whole stack (``stack`` fixture: seeded database, action server, Rasa with the model
under ``models/``, website) and Debian's Chromium at /usr/bin/chromium. The bot's exact words
change as the conversation design evolves, so replies are checked for their language only.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from bot.channels import issue_web_token
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = PROJECT_ROOT / "test-results"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPLY_TIMEOUT_MS = 90_000
BOT_TEXT = ".rw-group-message.rw-from-response .rw-message-text"

SPANISH_ONLY_WORDS = frozenset({
    "que", "de", "del", "el", "la", "los", "las", "por", "para", "con", "una", "uno", "tu",
    "te", "tus", "su", "sus", "es", "está", "estás", "eres", "puedo", "puedes", "quieres",
    "quiere", "gracias", "hola", "lo", "siento", "vaya", "pero", "cuál", "cual", "qué", "cómo",
    "como", "motivo", "baja", "darte", "ayudarte", "ayudar", "cliente", "contrato", "tarifa",
    "oferta", "ofrecerte", "mes", "meses", "euros", "nos", "hemos",
})
ENGLISH_ONLY_WORDS = frozenset({
    "the", "you", "your", "to", "and", "is", "are", "what", "why", "sorry", "want", "would",
    "could", "please", "with", "this", "that", "have", "we", "our", "can", "help", "hear",
    "cancel", "cancelling", "subscription", "offer", "month", "months", "thank", "thanks",
    "hello", "hi", "if", "let", "will", "of", "for", "it", "my", "how", "which", "reason",
})
SPANISH_CHARS = re.compile(r"[áéíóúñ¿¡]", re.IGNORECASE)


def words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text.lower())


def assert_spanish(text: str) -> None:
    found = words(text)
    spanish = [w for w in found if w in SPANISH_ONLY_WORDS]
    english = [w for w in found if w in ENGLISH_ONLY_WORDS]
    assert SPANISH_CHARS.search(text) or len(spanish) >= 2, f"not Spanish: {text!r}"
    assert not english, f"English words {english} in a Spanish reply: {text!r}"


def assert_english(text: str) -> None:
    found = words(text)
    spanish = [w for w in found if w in SPANISH_ONLY_WORDS]
    english = [w for w in found if w in ENGLISH_ONLY_WORDS]
    assert len(english) >= 2, f"not English: {text!r}"
    assert not spanish and not re.search(r"[¿¡]", text), \
        f"Spanish words {spanish} in an English reply: {text!r}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="es-ES")
    yield context.new_page()
    context.close()


@pytest.fixture()
def console(page: Page) -> list[str]:
    """What the page logs (the widget logs "connect:<id>" and "session_confirm:<id> ...")."""
    lines: list[str] = []
    page.on("console", lambda msg: lines.append(msg.text))
    return lines


def bot_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(BOT_TEXT).all_inner_texts() if t.strip()]


def chat(page: Page, text: str) -> str:
    """Open the widget, send ``text`` and return everything the bot answered (joined)."""
    page.locator(".rw-launcher").click()
    box = page.locator(".rw-new-message")
    box.wait_for(state="visible", timeout=10_000)
    page.wait_for_function("() => (window.sessionStorage.getItem('chat_session') || '')"
                           ".includes('session_id')", timeout=30_000)
    before = len(bot_texts(page))
    box.fill(text)
    box.press("Enter")
    page.locator(".rw-group-message.rw-from-client").filter(has_text=text).first.wait_for(
        timeout=10_000)
    page.wait_for_function(
        f"() => document.querySelectorAll({json.dumps(BOT_TEXT)}).length > {before}",
        timeout=REPLY_TIMEOUT_MS)
    # the widget shows a burst of messages one by one: wait until it stays still
    stable_since, count = time.monotonic(), len(bot_texts(page))
    while time.monotonic() - stable_since < 4.0:
        page.wait_for_timeout(500)
        now = len(bot_texts(page))
        if now != count:
            stable_since, count = time.monotonic(), now
    return "\n".join(bot_texts(page)[before:])


def test_spanish_customer_gets_a_spanish_reply(stack: Stack, page: Page,
                                               console: list[str]) -> None:
    response = page.goto(f"{stack.web_url}/?customer=C00001")
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text() == "Nubia Telecom"
    assert page.locator("#login-status").get_attribute("data-customer") == "C00001"
    reply = chat(page, "quiero darme de baja")
    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / "webchat.png"))
    assert_spanish(reply)
    assert any(line.startswith("session_confirm:") for line in console)


def test_english_customer_gets_an_english_reply(stack: Stack, page: Page) -> None:
    response = page.goto(f"{stack.web_url}/?customer=C00002&lang=en")
    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang") == "en"
    reply = chat(page, "I want to cancel my subscription")
    assert_english(reply)


def test_anonymous_visitor_can_chat(stack: Stack, page: Page) -> None:
    response = page.goto(stack.web_url + "/")
    assert response is not None and response.status == 200
    assert page.locator("#customer-select").input_value() == "anonymous"
    reply = chat(page, "quiero darme de baja")
    assert_spanish(reply)


def test_rest_channel_answers(stack: Stack) -> None:
    replies = stack.rest("e2e-rest-1", "quiero darme de baja")
    assert replies and all(r["recipient_id"] == "rest-e2e-rest-1" for r in replies)  # REST namespace
    assert_spanish("\n".join(r.get("text", "") for r in replies))


def test_unknown_customer_is_a_403_page(stack: Stack, page: Page) -> None:
    # only the demo personas may log in (WEB_DEMO=1), so any other reference is refused
    response = page.goto(f"{stack.web_url}/?customer=C99999")
    assert response is not None and response.status == 403
    assert "C99999" in page.locator("#error-message").inner_text()
    assert page.locator(".rw-launcher").count() == 0


def test_switching_customer_starts_a_fresh_conversation(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.web_url}/?customer=C00001")
    page.wait_for_function("() => (window.sessionStorage.getItem('chat_session') || '')"
                           ".includes('session_id')", timeout=30_000)
    first = page.evaluate("() => JSON.parse(sessionStorage.getItem('chat_session')).session_id")
    page.locator("#customer-select").select_option("C00003")
    page.wait_for_url(re.compile(r"customer=C00003"))
    page.wait_for_function("() => (window.sessionStorage.getItem('chat_session') || '')"
                           ".includes('session_id')", timeout=30_000)
    second = page.evaluate("() => JSON.parse(sessionStorage.getItem('chat_session')).session_id")
    assert first != second
    assert page.locator("#login-status").get_attribute("data-customer") == "C00003"


def test_forged_token_gets_no_connection(stack: Stack, page: Page, console: list[str]) -> None:
    forged = jwt.encode({"sub": "C00001", "exp": int(time.time()) + 600},
                        "not-the-secret-" + "f" * 40, algorithm="HS256")
    anchor = "var cfg = JSON.parse(cfgNode.textContent);"

    def forge_page_js(route: Route) -> None:
        # swap the signed token for a forged one just before the widget starts (the page
        # itself stays as served, so the browser treats it like any other visit)
        original = route.fetch()
        script = original.text()
        assert anchor in script
        swap = (f"cfg.widget.socketUrl = cfg.widget.socketUrl.replace("
                f"/token=[^&]+/, {json.dumps('token=' + forged)});")
        route.fulfill(response=original, body=script.replace(anchor, anchor + swap))

    page.route("**/static/page.js", forge_page_js)
    page.goto(f"{stack.web_url}/?customer=C00001")
    page.wait_for_function(
        "() => window.performance.getEntriesByType('resource')"
        f".some(e => e.name.includes({json.dumps('token=' + forged)}))", timeout=20_000)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("invalid or expired token" in line
                                                  for line in console):
        page.wait_for_timeout(250)
    page.wait_for_timeout(2_000)
    assert any("invalid or expired token" in line for line in console), console
    assert not any(line.startswith(("connect:", "session_confirm:")) for line in console), \
        console


# --- the same channel without a browser: a socket.io client, and Rasa's tracker store -------


class PollingSocket:
    """A minimal socket.io client (Engine.IO v4, long-polling) for talking to Rasa directly."""

    def __init__(self, rasa_url: str, token: str | None = None) -> None:
        self.base = f"{rasa_url}/socket.io/?EIO=4&transport=polling"
        handshake = self._get(self.base + (f"&token={token}" if token else ""), timeout=10)
        assert handshake and handshake[0].startswith("0"), handshake
        self.url = f"{self.base}&sid={json.loads(handshake[0][1:])['sid']}"
        self.events: list[list[Any]] = []

    @staticmethod
    def _get(url: str, timeout: float) -> list[str]:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read().decode("utf-8").split("\x1e")

    def send(self, packet: str) -> None:
        request = urllib.request.Request(self.url, data=packet.encode("utf-8"), method="POST",
                                         headers={"Content-Type": "text/plain;charset=UTF-8"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200

    def receive(self) -> list[str]:
        """One long poll; answers pings, returns the socket.io packets."""
        packets = []
        for packet in self._get(self.url, timeout=60):
            if packet == "2":
                self.send("3")
            elif packet:
                packets.append(packet)
        return packets

    def connect(self) -> str:
        """Join the default namespace: the server's answer ("40..." accepted, "44..." refused)."""
        self.send("40")
        while True:
            for packet in self.receive():
                if packet.startswith(("40", "44")):
                    return packet
                self._keep(packet)

    def emit(self, event: str, *args: Any) -> None:
        self.send("42" + json.dumps([event, *args]))

    def wait_for(self, event: str, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, found in enumerate(self.events):
                if found[0] == event:
                    return self.events.pop(i)[1:]
            for packet in self.receive():
                self._keep(packet)
        raise AssertionError(f"no {event!r} within {timeout} s; got {self.events}")

    def _keep(self, packet: str) -> None:
        if packet.startswith("42"):
            self.events.append(json.loads(packet[2:]))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("1")


def socket_exchange(rasa_url: str, token: str | None, custom_data: dict[str, Any],
                    text: str) -> tuple[str, list[Any]]:
    """Connect, start a session, send one message; the session id and the first bot reply."""
    sock = PollingSocket(rasa_url, token)
    try:
        assert sock.connect().startswith("40")
        sock.emit("session_request", {"session_id": None})
        session_id = sock.wait_for("session_confirm", 20)[0]
        sock.emit("user_uttered", {"message": text, "customData": custom_data,
                                   "session_id": session_id})
        reply = sock.wait_for("bot_uttered", REPLY_TIMEOUT_MS / 1000)
    finally:
        sock.close()
    return str(session_id), reply


def _user_events(tracker_db: Path, session_id: str,
                 timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
    """The user events Rasa stored for a session (it saves the tracker after the bot's turn,
    which can end after the first reply was sent, so wait for them)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with contextlib.closing(sqlite3.connect(tracker_db)) as conn:
                rows = conn.execute("SELECT sender_id, data FROM events WHERE type_name = 'user' "
                                    "AND sender_id LIKE ?", (f"%-{session_id}",)).fetchall()
        except sqlite3.OperationalError:  # the table does not exist yet
            rows = []
        if rows or time.monotonic() > deadline:
            return [(sender, json.loads(data)) for sender, data in rows]
        time.sleep(0.25)


def test_socket_identity_comes_from_the_token_not_from_custom_data(stack: Stack) -> None:
    token = issue_web_token("C00001", stack.jwt_secret, 600)
    forged = {"language": "es", "customer_ref": "C00002", "authenticated": False}
    session_id, reply = socket_exchange(stack.rasa_url, token, forged, "quiero darme de baja")
    assert reply, "no bot reply over socket.io"
    events = _user_events(stack.tracker_db, session_id)
    assert [sender for sender, _ in events] == [f"web-C00001-{session_id}"]
    metadata = events[0][1]["metadata"]
    assert metadata["customer_ref"] == "C00001"
    assert metadata["authenticated"] is True
    assert metadata["channel"] == "web"
    assert metadata["language"] == "es"


def test_anonymous_socket_cannot_claim_a_customer(stack: Stack) -> None:
    forged = {"language": "en", "customer_ref": "C00001", "authenticated": True}
    session_id, _ = socket_exchange(stack.rasa_url, None, forged,
                                    "I want to cancel my subscription")
    events = _user_events(stack.tracker_db, session_id)
    assert [sender for sender, _ in events] == [f"web-anon-{session_id}"]
    assert events[0][1]["metadata"]["customer_ref"] is None
    assert events[0][1]["metadata"]["authenticated"] is False


@pytest.mark.parametrize("kind", ["forged", "expired", "garbage"])
def test_bad_tokens_are_refused_by_rasa(stack: Stack, kind: str) -> None:
    token = {
        "forged": issue_web_token("C00001", "not-the-secret-" + "g" * 40, 600),
        "expired": issue_web_token("C00001", stack.jwt_secret, 60, now=time.time() - 3600),
        "garbage": "abc.def.ghi",
    }[kind]
    sock = PollingSocket(stack.rasa_url, token)
    try:
        answer = sock.connect()
    finally:
        sock.close()
    assert answer.startswith("44"), answer
    assert "invalid or expired token" in answer


def test_the_action_plan_link_opens_a_printable_page_only_for_its_token(stack: Stack, page: Page) -> None:
    """Marta (low usage) accepts the personal plan over REST; the link she gets opens in
    Chromium with both sides' commitments and the offer's own gift; a guessed token is a 404."""
    sender = "plan-page-1"
    texts = []
    texts += [r.get("text", "") for r in stack.rest(sender, "quiero darme de baja, casi no lo uso")]
    texts += [r.get("text", "") for r in stack.verify_rest(sender, "C00004", "41001")]
    for _ in range(2):  # the plan is one of the two offers she may get
        if any("plan personal" in t for t in texts[-2:]):
            break
        texts += [r.get("text", "") for r in stack.rest(sender, "no")]
    assert any("plan personal" in t for t in texts), texts
    for text in ("sí, me interesa", "ver series con mis hijos", "no sé usar la app"):
        texts += [r.get("text", "") for r in stack.rest(sender, text)]
    link = re.search(r"https?://\S+/plan/[\w-]+", "\n".join(texts))
    assert link, texts
    page.goto(link.group(0))
    body = page.locator("body").inner_text()
    assert "Tu plan de acción" in body and "PLAN-" in body
    assert "5 € de descuento en tu próxima factura" in body  # the gift the offer promised
    assert "Nubia TV" not in body  # Marta has no TV: no TV tasks
    page.emulate_media(media="print")
    assert not page.locator("nav").is_visible()
    with urllib.request.urlopen(link.group(0) + "?lang=en") as resp:
        assert "Your action plan" in resp.read().decode()
    guessed = link.group(0)[:-4] + "abcd"
    try:
        urllib.request.urlopen(guessed)
        raise AssertionError("a guessed plan token opened a page")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
