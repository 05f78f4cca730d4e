"""Written personalised action plans (seed 001).

A customer who is not getting value from the service gets a plan with commitments from
both sides, built from their answers and their real usage, dates for each step, a small
reconciliation gift, and follow-up check-ins. It is stored and viewable at a URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import settings
from bot.core.customers import usage_summary
from bot.core.i18n import format_short_date
from bot.core.tariffs import load_plans
from bot.core.vocabulary import CaseStatus
from bot.storage.models import ActionPlan, ActionPlanCheckin, Customer, RetentionCase, utcnow

CHECKIN_DAYS = (14, 30, 60)
#: the two questions of an action plan; while one is asked, every message answers it
#: (data/rules/action_plan.yml, written by ``python -m bot.nlu.answer_rules``)
PLAN_STAGES = ("plan_goal", "plan_obstacle")
# The gift is the one the offer promised (``gift_eur`` of the ``action_plan`` offer in
# data/offers.yml, priced with the case): one definition, shown in the chat and on the plan.
GIFT_TEXT = {"es": "{amount} € de descuento en tu próxima factura",
             "en": "€{amount} off your next bill"}

# Keyword -> (customer commitment, company commitment) per language. Matched against the
# customer's own answers; the generic pair is used when nothing matches.
# The third item is the service the topic needs: no TV app for a customer without TV.
_TOPICS: tuple[tuple[tuple[str, ...], dict[str, tuple[str, str]], str | None], ...] = (
    (("tele", "tv ", "series", "pelis", "peli", "fútbol", "futbol", "football", "movies", "film"),
     {"es": ("Activar la app Nubia TV en tu tele y en el móvil y crear tu lista de favoritos.",
             "Te enviamos una guía de Nubia TV y activamos gratis el paquete de series un mes."),
      "en": ("Set up the Nubia TV app on your TV and phone and build your favourites list.",
             "We send you a Nubia TV guide and switch on the series pack for free for a month.")}, "tv"),
    (("trabajo", "teletrabajo", "work", "remote", "oficina", "office", "videollamada", "zoom"),
     {"es": ("Probar la conexión por cable en tu puesto de trabajo y avisarnos si algo falla.",
             "Revisamos a distancia tu router y optimizamos el wifi para teletrabajar."),
      "en": ("Try a cable connection at your desk and tell us if anything fails.",
             "We check your router remotely and tune the wifi for working from home.")}, "fibre"),
    (("wifi", "cobertura", "coverage", "lento", "slow", "señal", "signal", "habitación", "room"),
     {"es": ("Indicarnos en qué habitaciones no llega bien la señal.",
             "Te enviamos un amplificador wifi sin coste y un técnico lo deja configurado."),
      "en": ("Tell us which rooms have a weak signal.",
             "We send you a free wifi extender and a technician sets it up.")}, "fibre"),
    (("no sé", "no se", "ns", "don't know", "dont know", "cómo", "como funciona", "how", "app"),
     {"es": ("Reservar 20 minutos para una sesión guiada con nuestro equipo.",
             "Te llamamos para una sesión guiada de 20 minutos y te enseñamos todo lo que incluye."),
      "en": ("Book 20 minutes for a guided session with our team.",
             "We call you for a 20-minute guided session and show you everything it includes.")}, None),
)
_GENERIC = {"es": ("Usar el servicio al menos tres veces por semana durante el próximo mes.",
                   "Revisamos tu tarifa y, si encaja mejor otra más barata, te la cambiamos sin coste."),
            "en": ("Use the service at least three times a week over the next month.",
                   "We review your plan and, if a cheaper one fits better, switch you at no cost.")}


@dataclass(frozen=True)
class PlanText:
    customer: list[str]
    company: list[str]


def build_commitments(goal: str, obstacle: str, usage: dict[str, float], language: str,
                      today: date, services: frozenset[str] = frozenset({"fibre", "mobile", "tv"})
                      ) -> PlanText:
    lang = "en" if language == "en" else "es"
    text = f" {goal} {obstacle} ".lower()
    customer: list[str] = []
    company: list[str] = []
    for keywords, pairs, needs in _TOPICS:
        if needs is not None and needs not in services:
            continue
        if any(k in text for k in keywords):
            c, o = pairs[lang]
            customer.append(c)
            company.append(o)
    if not customer:
        c, o = _GENERIC[lang]
        customer.append(c)
        company.append(o)
    first_check = today + timedelta(days=CHECKIN_DAYS[0])
    when = format_short_date(first_check, lang)
    tv = "tv" in services and usage.get("avg_tv_hours")
    if lang == "es":
        company.append(f"Te llamamos el {when} para ver cómo va (y de nuevo a los 30 y 60 días).")
        if usage.get("months"):
            company.append(f"En esa llamada repasamos juntos tu uso: hoy usas de media "
                           f"{_num(usage['avg_gb'], lang)} GB al mes"
                           + (f" y {_num(usage['avg_tv_hours'], lang)} h de TV." if tv else "."))
    else:
        company.append(f"We call you on {when} to see how it's going (and again at 30 and 60 days).")
        if usage.get("months"):
            company.append(f"On that call we go over your usage together: today you use "
                           f"{_num(usage['avg_gb'], lang)} GB a month on average"
                           + (f" and {_num(usage['avg_tv_hours'], lang)} h of TV." if tv else "."))
    return PlanText(customer=customer, company=company)


def _num(value: float, language: str) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if language == "es" else text


def gift_of(case: RetentionCase, language: str) -> tuple[str, Decimal]:
    """The gift the case's action-plan offer promised: its text and its cost."""
    offer = next((o for o in reversed(case.offers) if o.kind == "action_plan"), None)
    amount = Decimal(str((offer.params or {}).get("gift", "0"))) if offer is not None else Decimal("0")
    if amount <= 0:
        return "", Decimal("0")
    shown = f"{amount.normalize():f}"
    shown = shown.replace(".", ",") if language == "es" else shown
    return GIFT_TEXT["en" if language == "en" else "es"].format(amount=shown), amount


def write_plan(session: Session, case: RetentionCase, customer: Customer, goal: str,
               obstacle: str, language: str, today: date | None = None) -> ActionPlan:
    """Create (once per case) the written plan with its check-ins."""
    existing = session.scalar(select(ActionPlan).where(ActionPlan.case_id == case.id))
    if existing is not None:
        return existing
    today = today or date.today()
    sub = customer.current_subscription
    plan = load_plans().get(sub.plan_code) if sub is not None else None
    services = plan.services if plan is not None else frozenset({"fibre"})
    text = build_commitments(goal, obstacle, usage_summary(customer), language, today, services)
    gift, gift_cost = gift_of(case, language)
    plan = ActionPlan(
        case_id=case.id, customer_id=customer.id, token=secrets.token_urlsafe(16),
        reference=f"PLAN-{secrets.token_hex(3).upper()}", language=language,
        answers={"goal": goal[:1000], "obstacle": obstacle[:1000]},
        customer_commitments=text.customer, company_commitments=text.company,
        gift=gift, gift_cost=gift_cost,
    )
    for days in CHECKIN_DAYS:
        plan.checkins.append(ActionPlanCheckin(due_date=today + timedelta(days=days)))
    session.add(plan)
    case.status, case.closed_at = CaseStatus.RETAINED, utcnow()
    case.reference = case.reference or plan.reference
    case.offer_cost = (case.offer_cost or Decimal("0")) + gift_cost
    session.flush()
    return plan


def render_text(plan: ActionPlan) -> str:
    """The plan as plain text for the conversation (one line per commitment)."""
    es = plan.language != "en"
    you, we, gift = (("Tú te comprometes a:", "Nosotros nos comprometemos a:", "Regalo:") if es
                     else ("You commit to:", "We commit to:", "Gift:"))
    lines = [you] + [f"- {c}" for c in plan.customer_commitments]
    lines += [we] + [f"- {c}" for c in plan.company_commitments]
    if plan.gift:
        lines.append(f"{gift} {plan.gift}")
    return "\n".join(lines)


def find_by_token(session: Session, token: str) -> ActionPlan | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(select(ActionPlan).where(ActionPlan.token == token))


def plan_url(token: str) -> str:
    """Where the customer views and prints the plan (the website, ``PUBLIC_WEB_URL``)."""
    return f"{settings.public_web_url()}/plan/{token}"
