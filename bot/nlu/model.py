"""Load a trained Rasa model and parse texts with it (the bot's own NLU code path)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from bot.config.settings import PROJECT_ROOT
from bot.core.language import pick

DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"
CANCEL_INTENTS = ("cancel", "cancel_firm")


@dataclass(frozen=True)
class Understanding:
    text: str
    language: str
    intent: Optional[str]
    confidence: float
    cancel: bool
    reason: Optional[str]

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "language": self.language, "cancel": self.cancel,
                "reason": self.reason, "confidence": round(self.confidence, 4)}


def reason_part(intent: Optional[str]) -> Optional[str]:
    """The ``reason_*`` part of an intent name ("cancel+reason_price" -> "reason_price")."""
    return next((p for p in (intent or "").split("+") if p.startswith("reason_")), None)


def is_cancel_intent(intent: Optional[str]) -> bool:
    """True for the intents that carry a wish to cancel ("cancel", "cancel_firm", "cancel+reason_*")."""
    return any(p in CANCEL_INTENTS for p in (intent or "").split("+"))


def interpret(text: str, intent: Optional[str], confidence: float,
              language: Optional[str] = None) -> Understanding:
    """Map an intent to the product's vocabulary: wish to cancel + churn reason."""
    cancel = is_cancel_intent(intent)
    part = reason_part(intent)
    reason = part[len("reason_"):] if part else None
    return Understanding(text=text, language=language or pick(text, None), intent=intent,
                         confidence=float(confidence), cancel=cancel, reason=reason)


def latest_model(path: Path | str | None = None) -> Path:
    path = Path(path) if path else DEFAULT_MODEL_DIR
    if path.is_file():
        return path
    models = sorted(path.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise FileNotFoundError(f"no trained model in {path}/: run `make train` first")
    return models[-1]


class Parser:
    """Parses texts with a trained model through Rasa's own message processor."""

    def __init__(self, model: Path | str | None = None) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("rasa").setLevel(logging.ERROR)
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
        from rasa.core.agent import Agent

        self.model_path = latest_model(model)
        self._loop = asyncio.new_event_loop()
        self._agent = Agent.load(str(self.model_path))

    def parse(self, text: str) -> dict[str, Any]:
        return self._loop.run_until_complete(self._agent.parse_message(text))

    def understand(self, text: str) -> Understanding:
        if not text.strip():
            return interpret(text, None, 0.0)
        parsed = self.parse(text)
        intent = parsed.get("intent") or {}
        language = next((e["value"] for e in parsed.get("entities", [])
                         if e.get("entity") == "language"), None)
        return interpret(text, intent.get("name"), intent.get("confidence") or 0.0, language)

    def understand_all(self, texts: Iterable[str]) -> list[Understanding]:
        return [self.understand(t) for t in texts]
