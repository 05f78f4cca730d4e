"""Typed settings read from the environment.

Each setting is a small function so that it is read when used (tests and subprocesses can set
the environment before calling it) and so that the default lives next to its name.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Callable, TypeVar

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = PROJECT_ROOT / "var"
WEB_JWT_SECRET_FILE = VAR_DIR / "web_jwt_secret"
ACTION_SERVER_TOKEN_FILE = VAR_DIR / "action_server_token"
EVENTS_API_SECRET_FILE = VAR_DIR / "events_api_secret"
PRIVATE_UMASK = 0o077  # files 0600, directories 0700

logger = logging.getLogger(__name__)
T = TypeVar("T")


def env(name: str) -> str | None:
    """The variable's value, or None when it is unset or blank (every setting reads through it)."""
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


_env = env


def action_timeout_seconds() -> float:
    """Seconds Rasa waits for one action (``ACTION_TIMEOUT_SECONDS``, 30; Rasa's own is 300).

    Past it the customer hears the technical-problem reply and the message is kept for a person
    (``bot.channels.faults``), instead of every conversation of that action server hanging.
    """
    try:
        return max(1.0, float(_env("ACTION_TIMEOUT_SECONDS") or 30))
    except ValueError:
        return 30.0


def _env_int(name: str, default: int) -> int:
    return _env_parsed(name, default, int, "an integer")


def _env_float(name: str, default: float) -> float:
    return _env_parsed(name, default, float, "a number")


def _env_parsed(name: str, default: T, parse: Callable[[str], T], what: str) -> T:
    """The variable read by ``parse``, ``default`` when unset; a clear error when it does not parse."""
    value = _env(name)
    if value is None:
        return default
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be {what}, got {value!r}") from exc


def persistent_secret(env_name: str, path: Path) -> str:
    """The secret in ``env_name``, else a random one created once in ``path`` (mode 600).

    Processes on one machine share it without configuration; if two start at once, only one
    writes (``O_EXCL``) and both read its secret.
    """
    value = _env(env_name)
    if value:
        return value
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        stored = ""
    if stored:
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the other process may not have written it yet
            stored = path.read_text(encoding="utf-8").strip()
            if stored:
                return stored
            time.sleep(0.02)
        raise RuntimeError(f"{path} exists but is empty; delete it or set {env_name}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(candidate + "\n")
    os.chmod(path, 0o600)
    return candidate


def web_jwt_secret(secret_file: Path | None = None) -> str:
    """HS256 secret shared by the website (signs) and the Rasa web channel (verifies):
    ``WEB_JWT_SECRET``, else ``var/web_jwt_secret``."""
    return persistent_secret("WEB_JWT_SECRET", secret_file or WEB_JWT_SECRET_FILE)


def protect_data_files(var_dir: Path | None = None) -> None:
    """Make every file this process creates private (umask 077), and those already in ``var/``
    too (files 0600, directories 0700).

    ``var/`` holds customers' personal data (the SQLite databases, Rasa's tracker store) and
    secrets. Call it once, first thing, in every entry point that may write there; the chmod
    repairs files an older version or another tool created world-readable.
    """
    os.umask(PRIVATE_UMASK)
    root = var_dir or VAR_DIR
    if not root.is_dir():
        return
    for directory, _subdirs, files in os.walk(root):  # does not follow symbolic links
        _make_private(Path(directory), 0o700)
        for name in files:
            _make_private(Path(directory) / name, 0o600)


def _make_private(path: Path, mode: int) -> None:
    try:
        status = path.lstat()
        if not stat.S_ISLNK(status.st_mode) and stat.S_IMODE(status.st_mode) != mode:
            path.chmod(mode)
    except FileNotFoundError:  # removed meanwhile by another process (e.g. a SQLite journal)
        return
    except OSError as exc:  # e.g. owned by another user: say so, but do not stop the process
        logger.warning("could not make %s private (mode %o): %s", path, mode, exc)


def action_server_host() -> str:
    """Interface the action server listens on (``ACTION_SERVER_HOST``, the loopback by default:
    only Rasa calls it, and Rasa runs on the same machine unless configured otherwise)."""
    return _env("ACTION_SERVER_HOST") or "127.0.0.1"


def action_server_token(secret_file: Path | None = None) -> str:
    """Shared secret that Rasa sends to the action server in ``X-Action-Token``:
    ``ACTION_SERVER_TOKEN``, else ``var/action_server_token``.

    Without it anyone reaching the action server could run any action on a crafted tracker.
    """
    return persistent_secret("ACTION_SERVER_TOKEN", secret_file or ACTION_SERVER_TOKEN_FILE)


def events_api_secret(secret_file: Path | None = None) -> str:
    """HMAC-SHA256 key of ``POST /api/events`` (key events from billing, network, CRM):
    ``EVENTS_API_SECRET``, else ``var/events_api_secret``."""
    return persistent_secret("EVENTS_API_SECRET", secret_file or EVENTS_API_SECRET_FILE)


def public_web_url() -> str:
    """The website's address in links sent to customers (plans, payment links):
    ``PUBLIC_WEB_URL``, no trailing /; default ``http://localhost:<WEB_PORT>``."""
    value = _env("PUBLIC_WEB_URL")
    return value.rstrip("/") if value else f"http://localhost:{web_port()}"


def payment_link_ttl_hours() -> int:
    """How long a failed-payment link stays valid (``PAYMENT_LINK_TTL_HOURS``, 72)."""
    return max(1, _env_int("PAYMENT_LINK_TTL_HOURS", 72))


def risk_model_path() -> Path:
    """The churn-risk model file (``RISK_MODEL_PATH``, default ``models/churn_risk.joblib``)."""
    value = _env("RISK_MODEL_PATH")
    return Path(value) if value else PROJECT_ROOT / "models" / "churn_risk.joblib"


def web_token_ttl_seconds() -> int:
    """Lifetime of the website's signed chat token (``WEB_TOKEN_TTL_SECONDS``, 8 hours)."""
    return max(60, _env_int("WEB_TOKEN_TTL_SECONDS", 8 * 3600))


def rasa_public_url() -> str:
    """Rasa's address as the visitor's browser reaches it (``RASA_PUBLIC_URL``)."""
    return (_env("RASA_PUBLIC_URL") or "http://localhost:5005").rstrip("/")


def trusted_proxies() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Reverse proxies whose ``X-Forwarded-For`` is believed (``TRUSTED_PROXIES``: comma-separated
    addresses or CIDR networks, e.g. ``127.0.0.1, 10.0.0.0/8``; empty by default: the header is
    ignored and the source of a request is its TCP peer). See ``bot.config.network``.

    An entry that is not an address or a network raises ``ValueError`` naming it.
    """
    networks = []
    for item in (_env("TRUSTED_PROXIES") or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"TRUSTED_PROXIES: {item!r} is not an IP address or network "
                             "(e.g. 10.0.0.1 or 10.0.0.0/8)") from exc
    return tuple(networks)


def web_host() -> str:
    """Interface the demo website listens on (``WEB_HOST``, all interfaces by default)."""
    return _env("WEB_HOST") or "0.0.0.0"


def web_port() -> int:
    """Port of the demo website (``WEB_PORT``, 8080)."""
    return _env_int("WEB_PORT", 8080)


def web_demo() -> bool:
    """Demo mode of the website (``WEB_DEMO``: 1/true/yes/on; off when unset, blank or 0).

    Only in demo mode may a visitor "log in" as one of the demo personas, for whom the
    website signs a chat token; otherwise the website signs no customer token at all.
    """
    value = (_env("WEB_DEMO") or "0").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"WEB_DEMO must be 1 or 0, got {value!r}")


# --- Twilio (SMS and voice channels, outbound SMS) ----------------------------------------


def twilio_account_sid() -> str | None:
    """Account SID (``TWILIO_ACCOUNT_SID``, "AC..."): outbound SMS authenticate with it."""
    return _env("TWILIO_ACCOUNT_SID")


def twilio_auth_token() -> str | None:
    """Auth token (``TWILIO_AUTH_TOKEN``): signs Twilio's webhooks and authenticates our calls.

    Without it every webhook request is refused (403): nothing can be validated.
    """
    return _env("TWILIO_AUTH_TOKEN")


def twilio_number() -> str | None:
    """Our Twilio phone number in E.164 (``TWILIO_NUMBER``), the sender of outbound SMS."""
    return _env("TWILIO_NUMBER")


def twilio_agent_number() -> str | None:
    """Where voice calls are transferred when the customer asks for a person
    (``TWILIO_AGENT_NUMBER``, E.164 or a SIP URI); unset: no transfer is offered."""
    return _env("TWILIO_AGENT_NUMBER")


def public_base_url() -> str | None:
    """The public address Twilio calls (``PUBLIC_BASE_URL``, e.g. an ngrok URL), no trailing /.

    Behind a proxy or tunnel the server sees another URL than the one Twilio signed, so
    signatures are checked against this base + the request path, and voice ``action`` URLs
    are built on it. Unset: the request's own URL is used.
    """
    value = _env("PUBLIC_BASE_URL")
    return value.rstrip("/") if value else None


def twilio_voice(language: str) -> str:
    """Polly voice for spoken replies: ``TWILIO_VOICE_ES`` (Polly.Lucia) or
    ``TWILIO_VOICE_EN`` (Polly.Joanna)."""
    if language == "en":
        return _env("TWILIO_VOICE_EN") or "Polly.Joanna"
    return _env("TWILIO_VOICE_ES") or "Polly.Lucia"


def twilio_api_base_url() -> str | None:
    """Override of Twilio's REST API address (``TWILIO_API_BASE_URL``), only for tests and
    stand-ins; unset in production (the client talks to https://api.twilio.com)."""
    value = _env("TWILIO_API_BASE_URL")
    return value.rstrip("/") if value else None


# ------------------------------------------------------------------ storage and messaging


def database_url() -> str:
    """The project database (``DATABASE_URL``), SQLite under ``var/`` by default."""
    return env("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'retention.db'}"


def sqlite_busy_timeout() -> float:
    """Seconds a write waits for a locked SQLite file (``DB_BUSY_TIMEOUT_SECONDS``, 5).

    Short on purpose: past it the request goes to the durable outbox (``bot.storage.outbox``) and
    the customer is told what will happen, instead of a long silence.
    """
    try:
        return max(0.1, float(env("DB_BUSY_TIMEOUT_SECONDS") or 5))
    except ValueError:
        return 5.0


def tracker_db_url() -> str:
    """Rasa's tracker store as the dashboard reads it (``TRACKER_DB_URL``)."""
    return env("TRACKER_DB_URL") or f"sqlite:///{VAR_DIR / 'tracker.db'}"


def outbox_path() -> Path:
    """The durable outbox of unserved requests (``OUTBOX_PATH``, else ``var/outbox.db``)."""
    value = env("OUTBOX_PATH")
    return Path(value) if value else VAR_DIR / "outbox.db"


def sms_demo_phone() -> bool:
    """``SMS_DEMO_PHONE`` (1/true/yes/on): without Twilio, SMS go to the demo phone."""
    return (env("SMS_DEMO_PHONE") or "").lower() in ("1", "true", "yes", "on")


def demo_phone_path() -> Path:
    value = env("DEMO_PHONE_PATH")
    return Path(value) if value else VAR_DIR / "demo_phone.db"


def rasa_api_url() -> str:
    """Where agent tools reach Rasa's HTTP API (``RASA_API_URL``)."""
    return (env("RASA_API_URL") or "http://localhost:5005").rstrip("/")


def public_analytics_url() -> str:
    """Base of the dashboard links in handoff tickets (``PUBLIC_ANALYTICS_URL``)."""
    return (env("PUBLIC_ANALYTICS_URL") or "http://localhost:8050").rstrip("/")


def handoff_webhook_url() -> str:
    """Slack-compatible webhook for new handoff tickets (``HANDOFF_WEBHOOK_URL``; empty: none)."""
    return env("HANDOFF_WEBHOOK_URL") or ""


def retention_now() -> str | None:
    """``RETENTION_NOW``: an ISO date-time that freezes the clock (demos, tests of office hours)."""
    return env("RETENTION_NOW")


def retention_holdout_share(default: float) -> float:
    """``RETENTION_HOLDOUT_SHARE``: the control group's share of cases (0 disables it), instead of
    ``default`` (``holdout.share`` of data/retention.yml; the range is checked there)."""
    return _env_float("RETENTION_HOLDOUT_SHARE", default)


def retention_high_value_eur(default: float) -> float:
    """``RETENTION_HIGH_VALUE_EUR``: the monthly revenue from which a case goes to a person, instead
    of ``default`` (``handoff.high_value_monthly_revenue`` of data/retention.yml)."""
    return _env_float("RETENTION_HIGH_VALUE_EUR", default)


def verify_one_time_code(default: str) -> str:
    """``VERIFY_ONE_TIME_CODE``: when the chat identity check texts a code, instead of ``default``
    (``verification.one_time_code`` of data/retention.yml)."""
    return env("VERIFY_ONE_TIME_CODE") or default


def verification_limit(name: str, default: int) -> int:
    """``VERIFY_<NAME>`` (e.g. ``VERIFY_MAX_FAILURES_PER_SOURCE``): one limit of the identity check,
    instead of ``default`` (``verification.<name>`` of data/retention.yml)."""
    return _env_int(f"VERIFY_{name.upper()}", default)
