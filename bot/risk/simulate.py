"""A demo company whose customers churn for documented reasons, so the risk model has something
real to find (and a baseline to beat). Deterministic: same seed, same rows.

The process, month by month over ``months`` months (``docs/risk_model.md`` has the numbers):

* **Customers** join before and during the period (tenure 0 to 6 years). Each lives in an area
  with a network quality ``q`` (shared by the area's customers), pays a plan price (+3 EUR in the
  company-wide price rises of months 8 and 20, for the plans the rise touches), costs the company
  60-105 % of it to serve, and has a usage level. One in seven starts disengaging at a random
  month: usage then falls 15 % a month.
* **Incidents** per month ~ Poisson(0.06 + 0.5 (1 - q)); an area outage (a key event) hits all
  of an area's customers with probability 0.04 a month and counts as an incident too.
  **Support contacts** ~ Poisson(0.08 + 0.9 incidents of the month). A double charge (key event)
  hits 1 % of customers a month.
* **Churn**: each month a customer leaves with probability sigmoid(z),

      z = -4.6 + 0.45 incidents(last 3 months) + 0.9 [price rise in the last 3 months]
          + 2.0 max(0, 1 - usage trend) + 0.2 support contacts(last 3 months)
          + 0.7 [tenure < 6 months] - 0.3 ln(1 + tenure in years)
          + 0.6 [double charge in the last 3 months]
          - 0.9 [accepted a retention offer in the last 6 months] + frailty

  where frailty ~ N(0, 0.5) is the customer's own, never observed; "the last 3 months"
  includes the month being decided, which a snapshot taken at its start cannot see. A customer at high risk
  (z > -2.5) asks to cancel and is saved with probability 0.35 (a retention case with an
  accepted offer); one who asks and is not saved leaves.

Snapshots are taken on the first day of each month from month 6 (six months of usage to compare)
for every active customer; the label is whether they left within the following 90 days.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from datetime import date

from bot.risk.features import HORIZON_DAYS, Snapshot, lifecycle_stage, usage_trend

START = date(2024, 1, 1)
PLANS = (19.90, 29.90, 39.90, 49.90, 58.90, 69.90)
RAISED = {29.90, 49.90, 69.90}  # plans the price rises touch
RISE_MONTHS = (8, 20)
FIRST_SNAPSHOT_MONTH = 6


def month_start(index: int) -> date:
    year, month = divmod(START.month - 1 + index, 12)
    return date(START.year + year, month + 1, 1)


@dataclass
class _Customer:
    ref: str
    area: int
    joined: int  # month index (negative: before the period)
    price: float
    cost_share: float
    usage: float
    frailty: float
    disengage_from: int | None
    incidents: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)  # key events (outages, double charges, rises)
    double_charge: list[bool] = field(default_factory=list)
    usages: list[float] = field(default_factory=list)
    rises: list[bool] = field(default_factory=list)
    cases: int = 0
    accepted_month: int | None = None
    accepted: int = 0
    left: int | None = None  # month index


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def simulate(customers: int = 3000, months: int = 24, seed: int = 7) -> list[Snapshot]:
    """Labelled snapshots of a simulated company (see the module docstring for the process)."""
    rng = random.Random(seed)
    areas = [rng.betavariate(5, 2) for _ in range(60)]
    people = [_Customer(ref=f"S{n:06d}", area=rng.randrange(len(areas)),
                        joined=rng.randint(-72, months - 4), price=rng.choice(PLANS),
                        cost_share=rng.uniform(0.6, 1.05), usage=rng.lognormvariate(4.5, 0.5),
                        frailty=rng.gauss(0, 0.5),
                        disengage_from=rng.randint(0, months) if rng.random() < 1 / 7 else None)
              for n in range(customers)]
    snapshots: list[Snapshot] = []
    history_start = -6  # usage and incidents are recorded from six months before the period
    for m in range(history_start, months):
        outages = {a for a in range(len(areas)) if rng.random() < 0.04}
        for c in people:
            if c.joined > m or c.left is not None:
                continue
            if m >= FIRST_SNAPSHOT_MONTH and c.joined <= m - 1:
                snapshots.append(_snapshot(c, m))
            rise = m in RISE_MONTHS and c.price in RAISED
            if rise:
                c.price = round(c.price + 3, 2)
            doubled = rng.random() < 0.01
            incidents = _poisson(rng, 0.06 + 0.5 * (1 - areas[c.area])) + (1 if c.area in outages else 0)
            contacts = _poisson(rng, 0.08 + 0.9 * incidents)
            if c.disengage_from is not None and m >= c.disengage_from:
                c.usage *= 0.85
            c.usages.append(c.usage * rng.uniform(0.9, 1.1))
            c.incidents.append(incidents)
            c.contacts.append(contacts)
            c.rises.append(rise)
            c.double_charge.append(doubled)
            c.events.append((c.area in outages) + doubled + rise)
            _maybe_leave(rng, c, m)
    horizon_end = month_start(months)
    labelled = []
    for s in snapshots:
        if (horizon_end - s.snapshot_date).days < HORIZON_DAYS:
            continue  # its 90 days are not over when the period ends: label unknown
        left = people[int(s.customer_id[1:])].left
        labelled.append(replace(s, churned=left is not None and _within(s.snapshot_date, month_start(left))))
    return labelled


def _within(day: date, left_on: date) -> bool:
    return 0 <= (left_on - day).days < HORIZON_DAYS


def _last(values: list, n: int) -> list:
    return values[-n:] if n else []


def _z(c: _Customer, m: int) -> float:
    tenure_years = max(0, m - c.joined) / 12
    trend = usage_trend(_last(c.usages, 3), c.usages[-6:-3])
    z = (-4.6 + 0.45 * sum(_last(c.incidents, 3)) + 0.9 * any(_last(c.rises, 3))
         + 2.0 * max(0.0, 1 - trend) + 0.2 * sum(_last(c.contacts, 3)) + 0.7 * (tenure_years < 0.5)
         - 0.3 * math.log1p(tenure_years) + 0.6 * any(_last(c.double_charge, 3)) + c.frailty)
    if c.accepted_month is not None and m - c.accepted_month < 6:
        z -= 0.9
    return z


def _maybe_leave(rng: random.Random, c: _Customer, m: int) -> None:
    z = _z(c, m)
    if rng.random() < 1 / (1 + math.exp(-z)):
        if z > -2.5 and rng.random() < 0.35:  # asked to cancel and was saved
            c.cases += 1
            c.accepted += 1
            c.accepted_month = m
            return
        if z > -2.5:
            c.cases += 1
        c.left = m + 1  # leaves at the start of next month


def _snapshot(c: _Customer, m: int) -> Snapshot:
    tenure = m - c.joined
    return Snapshot(
        customer_id=c.ref, snapshot_date=month_start(m),
        values={"tenure_months": tenure, "monthly_price": c.price,
                "monthly_margin": round(c.price * (1 - c.cost_share), 2),
                "price_rises_90d": sum(_last(c.rises, 3)), "incidents_30d": sum(_last(c.incidents, 1)),
                "incidents_90d": sum(_last(c.incidents, 3)), "key_events_90d": sum(_last(c.events, 3)),
                "usage_trend": usage_trend(_last(c.usages, 3), c.usages[-6:-3]),
                "support_contacts_90d": sum(_last(c.contacts, 3)), "past_cases": c.cases,
                "offers_accepted": c.accepted},
        lifecycle_stage=lifecycle_stage(tenure))
