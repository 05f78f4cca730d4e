"""Privacy and tables: every table the dashboard shows, exports to CSV and the report prints.

A :class:`Table` is named columns of a kind and rows of values; :meth:`Table.records` makes them
JSON-safe and masks phone numbers, e-mails and contact data in free text (:func:`redact_contacts`)
unless the user may see them, and :meth:`Table.to_csv` defuses cells against spreadsheet formula
injection. The builders turn the figures (:class:`analytics.results.Dashboard`), the lists
(:mod:`analytics.lists`) and transcripts (:mod:`analytics.tracker_store`) into tables, so that the
page, the export and the report show the same cells, masked the same way.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from analytics.filters import to_datetime, to_day, to_money
from analytics.lists import CaseDetail, CheckinRow, ConversationRow, PlanRow, QueueRow
from analytics.results import Dashboard, OfferRow, Rate, ReturnRow
from analytics.returns import REVENUE_HORIZON_MONTHS
from analytics.tracker_store import TranscriptLine
from bot.core.privacy import mask_email, mask_phone
from bot.core.spreadsheet import defused

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d .\-()]{6,}\d(?!\w)")


#: a phone number inside a conversation id ("sms-+6834002": 7 to 15 digits, as E.164 allows)
_ID_PHONE = re.compile(r"\+?\d{7,15}")


def mask_conversation(conversation_id: str | None) -> str:
    """A conversation id with the caller's number masked ("sms-+447700900123" ->
    "sms-•••••••••123"); what a user without contact rights sees of it."""
    return redact_contacts(_ID_PHONE.sub(lambda m: mask_phone(m.group(0)), conversation_id or ""))


def holds_contact(conversation_id: str) -> bool:
    """Whether an id names a phone number or an e-mail address (an SMS or voice conversation)."""
    return mask_conversation(conversation_id) != conversation_id


def redact_contacts(text: str | None) -> str:
    """Free text (verbatims, transcripts, summaries) with e-mails and phone numbers masked."""
    if not text:
        return ""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


@dataclass(frozen=True)
class TableColumn:
    key: str
    label: str
    #: text | longtext | conversation | int | money | pct | ratio | number | date | datetime | bool | phone | email
    kind: str = "text"


@dataclass(frozen=True)
class Table:
    """A table as shown on the dashboard, exported to CSV and printed by the report."""

    name: str
    title: str
    columns: tuple[TableColumn, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def records(self, *, show_contacts: bool = False) -> list[dict[str, Any]]:
        """JSON-safe rows; phone numbers and e-mails masked unless ``show_contacts``."""
        return [{col.key: _cell(row.get(col.key), col.kind, show_contacts) for col in self.columns}
                for row in self.rows]

    def to_csv(self, *, show_contacts: bool = False) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([c.label for c in self.columns])
        for record in self.records(show_contacts=show_contacts):
            writer.writerow([_csv_value(record[c.key], c.kind) for c in self.columns])
        return buf.getvalue()


def _cell(value: Any, kind: str, show_contacts: bool) -> Any:
    if value is None:
        return None
    if kind == "phone":
        return value if show_contacts else mask_phone(value)
    if kind == "email":
        return value if show_contacts else mask_email(value)
    if kind == "conversation":  # "sms-+447700900123" -> "sms-•••••••••123"
        return value if show_contacts else mask_conversation(value)
    if kind == "longtext":
        return value if show_contacts else redact_contacts(value)
    if kind == "pct":
        return value.percent if isinstance(value, Rate) else value
    if kind == "money":
        return float(to_money(value))
    if kind == "ratio":
        return float(value)
    if kind == "number":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "date":
        return to_day(value).isoformat()  # type: ignore[union-attr]
    if kind == "datetime":
        return to_datetime(value).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)


def _csv_value(value: Any, kind: str) -> Any:
    """Cells as text for CSV, defused against spreadsheet formula injection."""
    if value is None:
        return ""
    if kind == "money":
        return f"{value:.2f}"
    return defused(value)


def kpi_rows(d: Dashboard) -> list[dict[str, Any]]:
    """The headline figures as (key, label, value, detail) rows."""
    c, r, h = d.counts, d.real_saves, d.holdout
    def money(v: Decimal) -> str:  # a typographic minus: "-" would start a formula in a spreadsheet
        return f"\u2212{-v:,.2f} EUR" if v < 0 else f"{v:,.2f} EUR"
    rows = [
        ("requests", "Cancellation requests", f"{c.requests}",
         f"{c.retained} retained, {c.cancelled} cancelled, {c.handed_off} handed off, {c.open} open, "
         f"{c.abandoned} abandoned"),
        ("hot_save_rate", "Hot save rate", str(d.hot_save_rate),
         f"{d.hot_save_rate.numerator} of {d.hot_save_rate.denominator} decided cases (holdout excluded)"),
        ("really_saved", "Really saved (30 days)", f"{r.really_saved}",
         f"{r.deflected} deflected, {r.pending} pending, {r.unverifiable} unverifiable; stick rate {r.stick_rate}"),
        ("cold_win_back_rate", "Cold win-back rate", str(d.cold.win_back_rate),
         f"{d.cold.won_back} won back of {d.cold.resolved} contacted; {d.cold.waiting} waiting"),
        ("revenue_kept", "Revenue kept", money(d.returns.revenue_kept),
         f"{d.returns.months_kept} customer-months (cap {REVENUE_HORIZON_MONTHS})"),
        ("offer_cost", "Offer cost", money(d.returns.offer_cost), "accepted hot offers + won-back cold offers"),
        ("return", "Return of retention", money(d.returns.net_return),
         "ROI " + ("n/a" if d.returns.roi is None else f"{d.returns.roi:.2f}")),
        ("handoff_rate", "Handoff rate", str(d.handoff.rate),
         f"{d.handoff.handed_off_cases} of {d.handoff.requests} cases handed to a person"),
        ("waiting_tickets", "Waiting tickets", f"{d.handoff.waiting_now}",
         ("oldest since " + d.handoff.oldest_waiting_at.strftime("%Y-%m-%d %H:%M"))
         if d.handoff.oldest_waiting_at else "nobody is waiting"),
        ("nlu_fallback_rate", "NLU fallback rate", str(d.nlu.rate) if d.nlu.available else "n/a",
         f"{d.nlu.fallbacks} of {d.nlu.user_messages} user messages" if d.nlu.available
         else "tracker store not reachable"),
        ("holdout_lift", "Holdout lift", _points(h.lift_points),
         f"offered {h.offered_rate} vs holdout {h.holdout_rate}"
         + ("" if h.p_value is None else f", p = {h.p_value:.4f}")),
    ]
    return [{"key": k, "metric": label, "value": value, "detail": detail} for k, label, value, detail in rows]


def _points(value: float | None) -> str:
    """Percentage points with a typographic minus (a leading "-" or "+" reads as a formula in a spreadsheet)."""
    if value is None:
        return "n/a"
    return f"\u2212{abs(value):.1f} pts" if value < 0 else f"{value:.1f} pts"


def dashboard_tables(d: Dashboard) -> dict[str, Table]:
    """Every table of the main view, by name (the CSV export and the report use these)."""
    T = TableColumn  # noqa: N806
    tables = [
        Table("kpis", "Key figures", (T("metric", "Metric"), T("value", "Value"), T("detail", "Detail")),
              kpi_rows(d)),
        Table("weekly", "Weekly trends", (
            T("week", "Week (Monday)", "date"), T("requests", "Requests", "int"), T("retained", "Retained", "int"),
            T("cancelled", "Cancelled", "int"), T("handed_off", "Handed off", "int"),
            T("save_rate", "Hot save rate (%)", "pct"), T("really_saved", "Really saved", "int"),
            T("deflected", "Deflected", "int"), T("pending", "Pending", "int")),
            [{"week": w.week, "requests": w.requests, "retained": w.retained, "cancelled": w.cancelled,
              "handed_off": w.handed_off, "save_rate": w.save_rate, "really_saved": w.really_saved,
              "deflected": w.deflected, "pending": w.pending} for w in d.weekly]),
        Table("reasons", "Reasons", (
            T("reason", "Reason"), T("requests", "Requests", "int"), T("share", "Share (%)", "pct"),
            T("retained", "Retained", "int"), T("cancelled", "Cancelled", "int"),
            T("handed_off", "Handed off", "int"), T("other", "Open/abandoned", "int"),
            T("save_rate", "Hot save rate (%)", "pct")),
            [{"reason": r.reason, "requests": r.requests, "share": r.share, "retained": r.retained,
              "cancelled": r.cancelled, "handed_off": r.handed_off, "other": r.other, "save_rate": r.save_rate}
             for r in d.reasons]),
        Table("verbatims", "Verbatims (latest)", (
            T("opened_at", "Opened", "datetime"), T("reason", "Reason"), T("status", "Outcome"),
            T("channel", "Channel"), T("language", "Lang"), T("text", "In the customer's words", "longtext"),
            T("conversation_id", "Conversation", "conversation")),
            [{"opened_at": v.opened_at, "reason": v.reason, "status": v.status, "channel": v.channel,
              "language": v.language, "text": v.text, "conversation_id": v.conversation_id} for v in d.verbatims]),
        Table("returns_by_reason", "Return of retention by reason", _return_columns(with_offer=False),
              [_return_record(r) for r in d.returns_by_reason]),
        Table("returns_by_offer", "Return of retention by offer", _return_columns(with_offer=True),
              [_return_record(r) for r in d.returns_by_offer]),
        Table("offers", "Offer acceptance by offer", _offer_columns(with_reason=False),
              [_offer_record(o) for o in d.offers]),
        Table("offers_by_reason", "Offer acceptance by reason", _offer_columns(with_reason=True),
              [_offer_record(o) for o in d.offers_by_reason]),
        Table("hot_cold", "Hot versus cold", (
            T("variant", "Retention"), T("attempts", "Attempts", "int"), T("saved", "Saved / won back", "int"),
            T("rate", "Rate (%)", "pct"), T("offer_cost", "Offer cost", "money"),
            T("revenue_kept", "Revenue kept", "money"), T("net_return", "Return", "money")),
            [{"variant": h.variant, "attempts": h.attempts, "saved": h.saved, "rate": h.rate,
              "offer_cost": h.offer_cost, "revenue_kept": h.revenue_kept, "net_return": h.net_return}
             for h in d.hot_cold]),
        Table("holdout", "Holdout: offers against no offer", (
            T("group", "Group"), T("cases", "Cases", "int"), T("decided", "Decided", "int"),
            T("saved", "Saved", "int"), T("rate", "Save rate (%)", "pct")),
            [{"group": "offered", "cases": d.holdout.offered_cases, "decided": d.holdout.offered_decided,
              "saved": d.holdout.offered_saved, "rate": d.holdout.offered_rate},
             {"group": "holdout (no offer)", "cases": d.holdout.holdout_cases,
              "decided": d.holdout.holdout_decided, "saved": d.holdout.holdout_saved,
              "rate": d.holdout.holdout_rate}]),
        Table("handoffs", "Handoff tickets by trigger (opened in range)", (
            T("trigger", "Trigger"), T("tickets", "Tickets", "int"), T("waiting", "Waiting", "int"),
            T("in_progress", "In progress", "int"), T("callback", "Callback", "int"),
            T("resolved", "Resolved", "int")),
            [{"trigger": t.trigger, "tickets": t.tickets, "waiting": t.waiting, "in_progress": t.in_progress,
              "callback": t.callback, "resolved": t.resolved} for t in d.handoff.by_trigger]),
    ]
    return {t.name: t for t in tables}


def _return_columns(with_offer: bool) -> tuple[TableColumn, ...]:
    T = TableColumn  # noqa: N806
    head = (T("key", "Offer"), T("variant", "Hot/cold"), T("kind", "Kind")) if with_offer else (T("key", "Reason"),)
    return head + (
        T("hot_saves", "Hot saves", "int"), T("cold_wins", "Cold wins", "int"),
        T("really_saved", "Really saved", "int"), T("months_kept", "Months kept", "int"),
        T("revenue_kept", "Revenue kept", "money"), T("offer_cost", "Offer cost", "money"),
        T("net_return", "Return", "money"), T("roi", "ROI", "ratio"))


def _return_record(r: ReturnRow) -> dict[str, Any]:
    return {"key": r.key, "variant": r.variant, "kind": r.kind, "hot_saves": r.hot_saves, "cold_wins": r.cold_wins,
            "really_saved": r.really_saved, "months_kept": r.months_kept, "revenue_kept": r.revenue_kept,
            "offer_cost": r.offer_cost, "net_return": r.net_return, "roi": r.roi}


def _offer_columns(with_reason: bool) -> tuple[TableColumn, ...]:
    T = TableColumn  # noqa: N806
    head = (T("reason", "Reason"),) if with_reason else ()
    return head + (
        T("offer_id", "Offer"), T("kind", "Kind"), T("variant", "Hot/cold"), T("presented", "Presented", "int"),
        T("accepted", "Accepted", "int"), T("declined", "Declined", "int"), T("pending", "Pending", "int"),
        T("acceptance", "Acceptance (%)", "pct"), T("accepted_cost", "Cost of accepted", "money"))


def _offer_record(o: OfferRow) -> dict[str, Any]:
    return {"reason": o.reason, "offer_id": o.offer_id, "kind": o.kind, "variant": o.variant,
            "presented": o.presented, "accepted": o.accepted, "declined": o.declined, "pending": o.pending,
            "acceptance": o.acceptance, "accepted_cost": o.accepted_cost}


def conversations_table(rows: Sequence[ConversationRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("conversations", "Conversations", (
        T("opened_at", "Opened", "datetime"), T("conversation_id", "Conversation", "conversation"),
        T("case_id", "Case", "int"),
        T("customer_ref", "Customer"), T("customer_name", "Name"), T("phone", "Phone", "phone"),
        T("email", "E-mail", "email"), T("channel", "Channel"), T("language", "Lang"), T("reason", "Reason"),
        T("status", "Outcome"), T("holdout", "Holdout", "bool"), T("offers", "Offers"),
        T("revenue_at_stake", "Revenue/month", "money"), T("offer_cost", "Offer cost", "money"),
        T("handoff", "Handoff", "bool"), T("cold_status", "Cold")),
        [r.__dict__.copy() for r in rows])


def case_offers_table(detail: CaseDetail | None) -> Table:
    T = TableColumn  # noqa: N806
    rows = [o.__dict__.copy() for o in detail.offers] if detail else []
    return Table("case_offers", "Offers of the case", (
        T("position", "#", "int"), T("offer_id", "Offer"), T("kind", "Kind"), T("variant", "Hot/cold"),
        T("text", "What the customer was told", "longtext"), T("cost", "Cost", "money"),
        T("expected_value", "Expected value", "money"), T("outcome", "Outcome"),
        T("presented_at", "Presented", "datetime"), T("decided_at", "Decided", "datetime")), rows)


def transcript_table(conversation_id: str, lines: Sequence[TranscriptLine] | None) -> Table:
    T = TableColumn  # noqa: N806
    return Table("transcript", f"Transcript of {mask_conversation(conversation_id)}", (
        T("at", "Time", "datetime"), T("speaker", "Speaker"), T("text", "Text", "longtext"), T("intent", "Intent")),
        [ln.__dict__.copy() for ln in lines or []])


def plans_table(rows: Sequence[PlanRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("plans", "Action plans", (
        T("created_at", "Created", "datetime"), T("reference", "Plan"), T("customer_ref", "Customer"),
        T("customer_name", "Name"), T("phone", "Phone", "phone"), T("email", "E-mail", "email"),
        T("language", "Lang"), T("case_status", "Case outcome"), T("customer_commitments", "Customer commits",
                                                                    "longtext"),
        T("company_commitments", "We commit", "longtext"), T("gift", "Gift"), T("gift_cost", "Gift cost", "money"),
        T("checkins", "Check-ins", "int"), T("checkins_done", "Done", "int"),
        T("checkins_overdue", "Overdue", "int"), T("next_due", "Next due", "date")),
        [r.__dict__.copy() for r in rows])


def checkins_table(rows: Sequence[CheckinRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("checkins", "Action plan check-ins", (
        T("due_date", "Due", "date"), T("state", "State"), T("plan_reference", "Plan"),
        T("customer_ref", "Customer"), T("customer_name", "Name"), T("done_at", "Done", "datetime"),
        T("note", "Note", "longtext")), [r.__dict__.copy() for r in rows])


def queue_table(rows: Sequence[QueueRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("queue", "Handoff queue", (
        T("ticket_id", "Ticket", "int"), T("created_at", "Since", "datetime"),
        T("waiting_minutes", "Waiting (min)", "int"), T("status", "Status"), T("trigger", "Trigger"),
        T("customer_ref", "Customer"), T("customer_name", "Name"), T("phone", "Phone", "phone"),
        T("email", "E-mail", "email"), T("channel", "Channel"), T("language", "Lang"), T("reason", "Reason"),
        T("sentiment", "Sentiment"), T("out_of_hours", "Out of hours", "bool"), T("assigned_to", "Assigned to"),
        T("summary", "Summary", "longtext"), T("conversation_id", "Conversation", "conversation")),
        [r.__dict__.copy() for r in rows])
