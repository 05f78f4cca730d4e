"""How long a customer's turn takes, without and with proactive-retention data in the database.

    .venv/bin/python -m tests.support.turn_latency [--turns 40]

Starts the Twilio test stack, sends ``--turns`` signed SMS conversations ("hola", then "quiero
darme de baja") from seeded customers and measures each reply; then takes in 60 key events
(an outage over every seeded postcode, a double charge per customer...) so that thousands of
alerts exist and every customer has one, and measures the same turns again. Prints the medians
and the ratio (``docs/benchmarks.md``). A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.core.alerts import ingest, parse_event
from bot.storage.db import session_factory
from bot.storage.models import Alert, Customer
from tests.support.twilio_standin import SMS_WEBHOOK, sms_params, start_twilio_stack


def _turns(stack, phones: list[str], tag: str) -> list[float]:  # type: ignore[no-untyped-def]
    took = []
    for n, phone in enumerate(phones):
        for text in ("hola", "quiero darme de baja"):
            started = time.perf_counter()
            reply = stack.caller.post(SMS_WEBHOOK, sms_params(phone, text, message_sid=f"SM{tag}{n}{len(text)}"))
            took.append(time.perf_counter() - started)
            assert reply.status == 200
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args()
    stack = start_twilio_stack()
    try:
        factory = session_factory(stack.stack.database_url)
        with factory() as s:
            customers = list(s.scalars(select(Customer).order_by(Customer.id)))
            postcodes = sorted({c.postcode for c in customers})
        phones = [c.phone for c in customers[10:10 + args.turns] if c.phone]
        later = [c.phone for c in customers[10 + args.turns:10 + 2 * args.turns] if c.phone]
        _turns(stack, phones[:3], "warm")  # first turns load models and caches
        before = _turns(stack, phones, "a")
        now = datetime.now(timezone.utc)
        with factory() as s:
            for day in range(20):
                started = (now - timedelta(days=day % 10, hours=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
                ingest(s, parse_event({"id": f"BENCH-NET-{day}", "type": "outage", "postcodes": postcodes,
                                       "started_at": started}))
            for c in customers[:200]:
                ingest(s, parse_event({"id": f"BENCH-BILL-{c.ref}", "type": "double_charge", "customer": c.ref,
                                       "amount": 20, "started_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}))
            s.commit()
            alerts = len(list(s.scalars(select(Alert.id))))
        after = _turns(stack, later, "b")
        result = {"turns": len(before), "alerts": alerts, "median_before_ms": round(1000 * statistics.median(before)),
                  "median_after_ms": round(1000 * statistics.median(after)),
                  "ratio": round(statistics.median(after) / statistics.median(before), 3)}
        print(json.dumps(result))
    finally:
        stack.stack.stop()


if __name__ == "__main__":
    main()
