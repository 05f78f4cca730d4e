"""The plotly figures of the dashboard (weekly trend, saves 30 days later, hot versus cold versus
holdout, return by reason, reasons by outcome, offer acceptance), each from a
:class:`analytics.results.Dashboard`. Pure functions of the figures, without Dash or Flask, so that
the pages only place them.
"""

from __future__ import annotations

import plotly.graph_objects as go

from analytics.results import Dashboard
from analytics.theme import ACCENT, BRAND, PALETTE


def weekly_figure(d: Dashboard) -> go.Figure:
    weeks = [w.week.isoformat() for w in d.weekly]
    fig = go.Figure()
    fig.add_bar(x=weeks, y=[w.requests for w in d.weekly], name="Cancellation requests", marker_color="#c9c2e6")
    fig.add_bar(x=weeks, y=[w.retained for w in d.weekly], name="Retained", marker_color=PALETTE["retained"])
    fig.add_scatter(x=weeks, y=[w.save_rate.percent for w in d.weekly], name="Hot save rate (%)", yaxis="y2",
                    mode="lines+markers", line={"color": ACCENT})
    fig.update_layout(barmode="overlay", yaxis={"title": "cases"},
                      yaxis2={"title": "%", "overlaying": "y", "side": "right", "range": [0, 100], "dtick": 20,
                              "showgrid": False})
    return fig


def deflection_figure(d: Dashboard) -> go.Figure:
    r = d.real_saves
    labels = ["really_saved", "deflected", "pending", "unverifiable"]
    values = [r.really_saved, r.deflected, r.pending, r.unverifiable]
    return go.Figure(go.Pie(labels=["Really saved", "Deflected", "Pending (< 30 days)", "Unverifiable"],
                            values=values, hole=0.55, marker={"colors": [PALETTE[k] for k in labels]},
                            sort=False))


def hot_cold_figure(d: Dashboard) -> go.Figure:
    fig = go.Figure()
    for row in d.hot_cold:
        fig.add_bar(x=["Save rate (%)"], y=[row.rate.percent or 0], name=row.variant.capitalize(),
                    marker_color=PALETTE[row.variant], text=[str(row.rate)], textposition="auto")
    hold = d.holdout
    fig.add_bar(x=["Save rate (%)"], y=[hold.holdout_rate.percent or 0], name="Holdout (no offer)",
                marker_color=PALETTE["other"], text=[str(hold.holdout_rate)], textposition="auto")
    fig.update_layout(barmode="group", yaxis={"title": "%", "range": [0, 100]})
    return fig


def return_by_reason_figure(d: Dashboard) -> go.Figure:
    rows = sorted(d.returns_by_reason, key=lambda r: r.net_return)
    fig = go.Figure()
    fig.add_bar(y=[r.key for r in rows], x=[float(r.revenue_kept) for r in rows], name="Revenue kept",
                orientation="h", marker_color=PALETTE["retained"])
    fig.add_bar(y=[r.key for r in rows], x=[-float(r.offer_cost) for r in rows], name="Offer cost",
                orientation="h", marker_color=PALETTE["cancelled"])
    fig.add_scatter(y=[r.key for r in rows], x=[float(r.net_return) for r in rows], name="Return",
                    mode="markers", marker={"color": BRAND, "size": 10, "symbol": "diamond"})
    fig.update_layout(barmode="relative", xaxis={"title": "EUR"})
    return fig


def reasons_figure(d: Dashboard) -> go.Figure:
    rows = list(reversed(d.reasons))
    fig = go.Figure()
    for key, label in (("retained", "Retained"), ("cancelled", "Cancelled"), ("handed_off", "Handed off"),
                       ("other", "Open / abandoned")):
        fig.add_bar(y=[r.reason for r in rows], x=[getattr(r, key) for r in rows], name=label, orientation="h",
                    marker_color=PALETTE[key])
    fig.update_layout(barmode="stack", xaxis={"title": "cases"})
    return fig


def offers_figure(d: Dashboard) -> go.Figure:
    rows = [o for o in d.offers if o.accepted + o.declined][:15]
    rows.sort(key=lambda o: o.acceptance.value or 0)
    labels = [f"{o.offer_id} ({o.variant})" for o in rows]
    return go.Figure(go.Bar(y=labels, x=[o.acceptance.percent for o in rows], orientation="h",
                            marker_color=ACCENT, text=[f"{o.accepted}/{o.accepted + o.declined}" for o in rows],
                            textposition="auto")).update_layout(xaxis={"title": "acceptance %", "range": [0, 100]})
