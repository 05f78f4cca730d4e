"""The call-centre export of due cold cases (CSV) and the count of cold cases per status."""

from __future__ import annotations

import csv
import logging
from datetime import date
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.campaign_config import CampaignConfig, load_campaigns
from bot.core.campaign_messages import choose_cold_offer, message_language
from bot.core.campaign_scheduling import refresh
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue
from bot.core.process import Policy, load_policy
from bot.core.spreadsheet import defused
from bot.core.vocabulary import ColdStatus
from bot.storage.models import ColdCase, Customer, RetentionCase

logger = logging.getLogger(__name__)


CSV_COLUMNS = ("cold_case_id", "customer_ref", "name", "phone", "language", "reason", "offer_id", "offer",
               "due_on")


def export_due_csv(session: Session, path_or_file: str | Path | IO[str], today: date,
                   policy: Policy | None = None, config: CampaignConfig | None = None,
                   catalogue: Catalogue | None = None) -> int:
    """Write the due cold cases (after ``refresh``, which is flushed) as CSV for the call
    centre, with full contact details and the cold offer priced for ``today``; cases without
    an eligible offer are left out (the runner records why). Returns the number of rows."""
    policy = policy or load_policy()
    config = config or load_campaigns()
    catalogue = catalogue or load_catalogue()
    refresh(session, today, policy, config)
    due = session.scalars(select(ColdCase).where(ColdCase.status == ColdStatus.DUE)
                          .order_by(ColdCase.due_on, ColdCase.id)).all()
    rows: list[list[str]] = []
    for cold in due:
        customer = session.get(Customer, cold.customer_id)
        case = session.get(RetentionCase, cold.case_id)
        if customer is None:
            continue
        offer, why = choose_cold_offer(session, cold, today, catalogue, config)
        if offer is None:
            logger.info("Cold case #%s left out of the export: %s.", cold.id, why)
            continue
        language = message_language(case, customer)
        rows.append([str(cold.id), customer.ref, defused(customer.full_name), customer.phone or "", language,
                     cold.reason, offer.offer_id, defused(offer.describe(language)), cold.due_on.isoformat()])

    def write(fh: IO[str]) -> None:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)

    if isinstance(path_or_file, (str, Path)):
        with open(path_or_file, "w", encoding="utf-8", newline="") as fh:
            write(fh)
    else:
        write(path_or_file)
    return len(rows)


def status_counts(session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(ColdCase.status, func.count()).group_by(ColdCase.status)).all())
    return {status: int(counts.get(status, 0)) for status in ColdStatus.values()}
