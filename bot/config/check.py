"""Validate every business data file; exit 1 with the file and entry of the first error.

Run by ``make run`` before anything starts (and imported by the action server at start-up).
"""

from __future__ import annotations

import sys

from bot.config.errors import ConfigError


def validate_all() -> None:
    from bot.core.campaign_config import load_campaigns
    from bot.core.key_events import load_key_events
    from bot.core.offer_loader import load_catalogue
    from bot.core.proactive import load_proactive
    from bot.core.process import load_policy
    from bot.core.tariffs import load_plans

    load_plans()
    load_catalogue()
    load_policy()
    load_campaigns()
    load_key_events()
    load_proactive()


def main() -> int:
    try:
        validate_all()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("data files OK: data/plans.yml, data/offers.yml, data/retention.yml, data/campaigns.yml, "
          "data/key_events.yml, data/proactive.yml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
