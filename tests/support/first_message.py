"""What the product does with a first message: does it treat it as the wish to leave?

``bot.nlu.evaluation`` scores the intent model alone. A customer meets more than that: the
action the rules start for the intent, and the words read by ``RetentionService.opening``
("no pienso irme", "cancela el pedido", a complaint without a word of leaving). This runs that
real path for every held-out text: the trained model parses it, the rule of
``data/rules/intents.yml`` for its intent names the action, and the real action (rasa_sdk objects)
runs on a migrated, seeded SQLite database, as a new anonymous web visitor. The message counts as
read as leaving when the conversation has a retention case afterwards or the cancellation
read-back is pending ("¿quieres que tramite la baja?").

    .venv/bin/python -m tests.support.first_message --model models/retention.tar.gz \
        --out results/nlu [--min-holdout-f1 0.95]

Writes ``first_message.json`` (figures per set, and every text read the other way than its label).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WEDNESDAY_NOON = datetime(2026, 11, 25, 11, 0)  # naive UTC: office hours in Madrid, every run alike


def first_message_actions(rules_path: Path = ROOT / "data" / "rules" / "intents.yml") -> dict[str, str]:
    """intent -> the action its rule starts when no question is pending (one rule per intent)."""
    rules = yaml.safe_load(rules_path.read_text(encoding="utf-8"))["rules"]
    actions: dict[str, str] = {}
    for rule in rules:
        steps = rule.get("steps") or []
        if rule.get("condition") or len(steps) != 2:
            continue
        intent, action = steps[0].get("intent"), steps[1].get("action")
        if intent and action:
            actions.setdefault(intent, action)
    return actions


def action_classes() -> dict[str, Any]:
    """The product's custom actions by name (the action server's own registry)."""
    import actions as package
    from actions.common import Action

    found: dict[str, Any] = {}
    for module_name in ("retention", "session", "handoff", "plan", "winback", "verify"):
        module = __import__(f"{package.__name__}.{module_name}", fromlist=["*"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Action) and cls is not Action and not inspect.isabstract(cls):
                found[cls().name()] = cls
    return found


class FirstMessages:
    """Runs first messages through the parser, the rules' action and the database."""

    def __init__(self, model: str, workdir: Path) -> None:
        os.environ["DATABASE_URL"] = self.db_url = _database(workdir)
        os.environ.setdefault("OUTBOX_PATH", str(workdir / "outbox.db"))
        os.environ["SMS_DEMO_PHONE"] = "1"
        os.environ["DEMO_PHONE_PATH"] = str(workdir / "demo_phone.db")
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER"):
            os.environ.pop(name, None)
        import bot.core.handoff

        bot.core.handoff.now_utc = lambda: WEDNESDAY_NOON  # type: ignore[assignment]
        from bot.nlu.model import Parser

        self.parser = Parser(model)
        self.actions = first_message_actions()
        self.classes = action_classes()
        self.count = 0

    def leaving(self, text: str, language: str | None = None) -> tuple[bool, str | None, str]:
        """(read as leaving, the intent, what followed: the action and the stage it left)."""
        from rasa_sdk import Tracker
        from rasa_sdk.executor import CollectingDispatcher
        from sqlalchemy import select

        from bot.storage.db import session_factory
        from bot.storage.models import RetentionCase

        self.count += 1
        sender = f"first-message-{self.count}"
        parsed = self.parser.parse(text)
        intent = (parsed.get("intent") or {}).get("name") or "nlu_fallback"
        detected = next((e["value"] for e in parsed.get("entities", []) if e.get("entity") == "language"), None)
        action_name = self.actions.get(intent, "action_fallback")
        cls = self.classes.get(action_name)
        if cls is None:  # a response, not a custom action ("utter_only_es_en")
            return False, intent, action_name
        tracker = Tracker(
            sender_id=sender, slots={"language": language or detected or "es", "channel": "web"},
            latest_message={**parsed, "text": text,  # the parse as Rasa sends it (intent_ranking)
                            "metadata": {"channel": "rest", "source": "rest:203.0.113.9"}},
            events=[{"event": "user", "text": text}], paused=False, followup_action=None,
            active_loop={}, latest_action_name=None)
        events = asyncio.run(cls().run(CollectingDispatcher(), tracker, {}))
        slots = {e.get("name"): e.get("value") for e in events if e.get("event") == "slot"}
        with session_factory(self.db_url)() as session:
            has_case = session.scalar(select(RetentionCase.id).where(
                RetentionCase.conversation_id == sender)) is not None
        read_back = (slots.get("pending_request") == "confirm_cancel"
                     or slots.get("retention_stage") == "confirm_cancel")
        return has_case or read_back, intent, f"{action_name}:{slots.get('retention_stage')}"


def _database(workdir: Path) -> str:
    from tests.support.db_fixtures import make_database

    return make_database(workdir)


def score(runner: FirstMessages, directory: Path) -> dict[str, Any] | None:
    from bot.nlu.evaluation import binary_f1, load_holdout
    from bot.nlu.model import interpret

    if not directory.is_dir() or not list(directory.glob("*.yml")):
        return None
    gold, pred, wrong = [], [], []
    for ex in load_holdout(directory):
        expected = interpret(ex.text, ex.intent, 1.0).cancel
        read, intent, followed = runner.leaving(ex.text, ex.language if ex.language in ("es", "en") else None)
        gold.append(expected)
        pred.append(read)
        if read != expected:
            wrong.append({"text": ex.text, "label": ex.intent, "intent": intent, "followed": followed,
                          "error": "missed" if expected else "read as leaving"})
    return {**binary_f1(gold, pred), "examples": len(gold), "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "retention.tar.gz"))
    ap.add_argument("--out", default=str(ROOT / "results" / "nlu"))
    ap.add_argument("--min-holdout-f1", type=float, default=None,
                    help="fail when the first held-out set (tests/nlu_holdout) scores below this")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runner = FirstMessages(args.model, Path(tmp))
        from bot.nlu.evaluation import HELD_OUT_SETS

        result = {name: score(runner, path) for name, path in HELD_OUT_SETS.items()}
    result = {k: v for k, v in result.items() if v is not None}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "first_message.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    summary = {name: {k: v[k] for k in ("precision", "recall", "f1", "examples")} for name, v in result.items()}
    print(json.dumps({"first_message_read_as_leaving": summary}))
    gate = args.min_holdout_f1
    if gate is not None and "holdout" in result and result["holdout"]["f1"] < gate:
        print(f"FAIL: first-message F1 on the held-out set {result['holdout']['f1']} < {gate}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
