"""The website signs a chat token only in demo mode (``WEB_DEMO=1``) and only for the personas.

Without demo mode no page of the website carries a customer token (the widget is anonymous and
the assistant verifies identity itself); in demo mode only the hand-made personas of
``bot.storage.seed.PERSONAS`` (C00001..C00007) can be "logged in as", never any other of the seeded
customers. Odd ``?customer=`` values are refused with a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from bot.channels import verify_web_token
from bot.config import settings
from bot.storage.seed import PERSONAS
from bot.website.app import make_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "demo-token-secret-" + "z" * 48
PERSONA_REFS = [f"C{i:05d}" for i in range(1, len(PERSONAS) + 1)]
# seeded customers (300 of them) that are not personas
OTHER_REFS = ["C00008", "C00100", "C00250", "c00250", "C00300", "%20C00250%20"]
# %-encoded as sent on the wire (the client sends them untouched)
GARBAGE_REFS = [
    "%00", "C00001%00", "%00C00001", "C00250%00", "x" * 5000, "C" * 33, "C00250'--",
    "C00001'--", "'%20OR%20'1'='1", "%C3%87%C3%96%C3%96%C3%96%C3%96%C3%B1",  # ÇÖÖÖÖñ
    "C%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%91",  # C + fullwidth 00001
    "%F0%9F%98%80", "%ED%A0%80", "%FF%FE", "..%2F..%2Fetc%2Fpasswd", "%0D%0ASet-Cookie:x=1",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "C00001%20C00002", "%E2%80%AEC00001",
]
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demodb') / 'retention.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "bot.storage.seed"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        mp.setenv("RASA_PUBLIC_URL", "http://rasa.test:5005")
        yield url


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch, seeded_db: str) -> None:
    monkeypatch.setenv("WEB_DEMO", "1")


@pytest.fixture(params=["unset", "0", "", "false"])
def no_demo(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
            seeded_db: str) -> None:
    if request.param == "unset":
        monkeypatch.delenv("WEB_DEMO", raising=False)
    else:
        monkeypatch.setenv("WEB_DEMO", request.param)


async def _get_all(app: web.Application, paths: list[str]) -> list[tuple[int, str, dict[str, str]]]:
    out = []
    async with TestClient(TestServer(app)) as client:
        for path in paths:
            resp = await client.get(URL(path, encoded=True))
            out.append((resp.status, await resp.text(errors="replace"), dict(resp.headers)))
    return out


def get_all(paths: list[str]) -> list[tuple[int, str, dict[str, str]]]:
    """GET every path from one website built with the current environment."""
    return asyncio.run(_get_all(make_app(jwt_secret=SECRET), paths))


def get(path: str) -> tuple[int, str, dict[str, str]]:
    return get_all([path])[0]


def tokens_in(body: str) -> list[str]:
    """Signed tokens (JWTs) and ``?token=`` / ``&token=`` parameters in a response body."""
    return JWT_RE.findall(body) + re.findall(r"[?&]token=[^\"&\s]+", body)


def widget_config(body: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="webchat-config">(.*?)</script>',
                      body, re.DOTALL)
    assert found, "no widget configuration in the page"
    return json.loads(found.group(1))


def test_web_demo_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_DEMO", raising=False)
    assert settings.web_demo() is False
    for off in ("0", "", "  ", "false", "no", "off", "FALSE"):
        monkeypatch.setenv("WEB_DEMO", off)
        assert settings.web_demo() is False, off
    for on in ("1", "true", "yes", "on", " 1 ", "True"):
        monkeypatch.setenv("WEB_DEMO", on)
        assert settings.web_demo() is True, on
    monkeypatch.setenv("WEB_DEMO", "maybe")
    with pytest.raises(ValueError, match="WEB_DEMO"):
        settings.web_demo()


# --- demo mode off (the default) -----------------------------------------------------------


def test_no_customer_token_without_web_demo(no_demo: None) -> None:
    paths = [f"/?customer={ref}" for ref in PERSONA_REFS + OTHER_REFS]
    paths += [f"/?customer={ref}&lang=en" for ref in ("C00001", "C00002")]
    for path, (status, body, _) in zip(paths, get_all(paths)):
        assert status in (403, 404), (path, status)
        assert not tokens_in(body), path
        assert "webchat-config" not in body, path


def test_without_web_demo_the_page_is_anonymous_only(no_demo: None) -> None:
    for lang in ("es", "en"):
        status, body, _ = get(f"/?lang={lang}")
        assert status == 200
        assert not tokens_in(body)
        config = widget_config(body)
        assert config["widget"]["socketUrl"] == "http://rasa.test:5005"
        assert config["widget"]["customData"] == {"language": lang}
        assert config["owner"] == f"anonymous:{lang}"
        for ref in PERSONA_REFS:  # no "log in as" selector
            assert f'value="{ref}"' not in body
        assert 'id="customer-select"' not in body


def test_refused_login_says_why(no_demo: None) -> None:
    status, body, _ = get("/?customer=C00001&lang=en")
    assert status == 403
    assert "demo" in re.search(r'<p id="error-message">(.*?)</p>', body, re.DOTALL).group(1)


def test_no_route_of_the_website_issues_a_token(no_demo: None, tmp_path: Path) -> None:
    bundle = tmp_path / "index.js"  # a stand-in widget bundle (web/node_modules may be missing)
    bundle.write_text("window.WebChat = {default: function () {}};", encoding="utf-8")
    app = make_app(bundle, jwt_secret=SECRET)
    paths = []
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter", "").replace("{token}", "x" * 24)
        paths += [path, f"{path}?customer=C00001", f"{path}?customer=C00250&lang=en"]
    results = asyncio.run(_get_all(app, paths))
    for path, (status, body, _) in zip(paths, results):
        assert status < 500, (path, status)
        assert not tokens_in(body), path


# --- demo mode ------------------------------------------------------------------------------


def test_personas_still_log_in_in_demo_mode(demo: None) -> None:
    paths = [f"/?customer={ref}" for ref in PERSONA_REFS] + ["/?customer=c00002&lang=en"]
    refs = PERSONA_REFS + ["C00002"]
    for ref, path, (status, body, headers) in zip(refs, paths, get_all(paths)):
        assert status == 200, path
        assert headers["Cache-Control"] == "no-store"
        socket_url = widget_config(body)["widget"]["socketUrl"]
        assert socket_url.startswith("http://rasa.test:5005?token="), path
        assert verify_web_token(socket_url.split("token=", 1)[1], SECRET) == ref
        assert f'data-customer="{ref}"' in body


def test_demo_selector_lists_only_the_personas(demo: None) -> None:
    status, body, _ = get("/")
    assert status == 200
    assert not tokens_in(body)
    listed = re.findall(r'<option value="([^"]+)"', body)
    assert listed == ["anonymous", *PERSONA_REFS]


def test_non_persona_gets_no_token_in_demo_mode(demo: None) -> None:
    paths = [f"/?customer={ref}" for ref in OTHER_REFS]
    paths += ["/?customer=C00250&lang=en", "/?customer=C99999", "/?customer=C00000"]
    for path, (status, body, _) in zip(paths, get_all(paths)):
        assert status == 403, (path, status)
        assert not tokens_in(body), path
        assert "webchat-config" not in body, path
    status, body, _ = get("/?customer=C00250&lang=en")
    message = re.search(r'<p id="error-message">(.*?)</p>', body, re.DOTALL).group(1)
    assert "C00250" in message and "demo" in message


def test_a_second_customer_parameter_cannot_smuggle_a_login(demo: None) -> None:
    status, body, _ = get("/?customer=C00250&customer=C00001")
    assert status == 403
    assert not tokens_in(body)


# --- odd input ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["1", "0"])
def test_garbage_refs_never_give_a_500_or_a_token(mode: str, seeded_db: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_DEMO", mode)
    paths = [f"/?customer={ref}" for ref in GARBAGE_REFS]
    paths += [f"/?customer={ref}&lang={ref}" for ref in GARBAGE_REFS[:4]]
    paths += [f"/?lang={ref}" for ref in GARBAGE_REFS]
    for path, (status, body, _) in zip(paths, get_all(paths)):
        assert status < 500, (path, status)
        if "customer=" in path:
            assert status in (400, 403, 404), (path, status)
            assert not tokens_in(body), path
        assert "<script>alert" not in body
        assert "\x00" not in body


def test_garbage_refs_without_a_database_are_not_500(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    # no seeded database at all: demo mode reports it (503), no demo mode does not need it
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'none.db'}")
    monkeypatch.setenv("WEB_DEMO", "0")
    assert get("/")[0] == 200
    assert get("/?customer=C00001")[0] == 403
    monkeypatch.setenv("WEB_DEMO", "1")
    assert get("/?customer=%00")[0] == 403
    assert get("/?customer=C00250")[0] == 403


def test_demo_phone_shows_the_personas_texts_only(demo: None, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """make run without Twilio texts the identity-check codes to the demo phone; the website shows
    the personas' phones, never another customer's code (so guessing a postcode is not enough)."""
    from bot.messaging import demo_phone

    monkeypatch.setenv("DEMO_PHONE_PATH", str(tmp_path / "demo_phone.db"))
    monkeypatch.setenv("SMS_DEMO_PHONE", "1")
    demo_phone.record("+447700900004", "Nubia: tu código de verificación es 482913.")  # C00005, a persona
    demo_phone.record("+447700900250", "Nubia: tu código de verificación es 777111.")  # not a persona
    (status, body, _), (index_status, index, _) = get_all(["/demo/phone", "/"])
    assert status == 200 and "482913" in body and "C00005" in body
    assert "777111" not in body and "+447700900250" not in body
    assert index_status == 200 and 'href="/demo/phone' in index


def test_no_demo_phone_outside_demo_mode(no_demo: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.messaging import demo_phone

    monkeypatch.setenv("DEMO_PHONE_PATH", str(tmp_path / "demo_phone.db"))
    demo_phone.record("+447700900004", "Nubia: tu código de verificación es 482913.")
    status, body, _ = get("/demo/phone")
    assert status == 404 and "482913" not in body
