"""The building blocks of the dashboard's pages: the key-figure cards, a table card with its CSV link
and a chart card around a plotly figure.

Tables arrive as :class:`analytics.tables.Table` and are shown with the user's masking
(:meth:`~analytics.tables.Table.records`), so a page never formats a cell itself.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dash_table, dcc, html

from analytics.results import Dashboard
from analytics.session import CurrentUser
from analytics.tables import Table, TableColumn, kpi_rows
from analytics.theme import BRAND

NUMERIC_KINDS = frozenset({"int", "money", "pct", "ratio", "number"})


def _fmt_money(value: Any) -> str:
    return f"{float(value):,.0f} €"


def kpi_cards(d: Dashboard) -> html.Div:
    rows = {r["key"]: r for r in kpi_rows(d)}
    cards = []
    values = {"revenue_kept": _fmt_money(d.returns.revenue_kept), "offer_cost": _fmt_money(d.returns.offer_cost),
              "return": _fmt_money(d.returns.net_return)}
    for key, row in rows.items():
        tone = ""
        if key == "return":
            tone = " good" if d.returns.net_return >= 0 else " bad"
        cards.append(html.Div([
            html.Div(row["metric"], className="kpi-label"),
            html.Div(values.get(key, row["value"]), className="kpi-value"),
            html.Div(row["detail"], className="kpi-detail"),
        ], className="kpi" + tone, id=f"kpi-{key}"))
    return html.Div(cards, className="kpis", id="kpis")


def _column(c: TableColumn) -> dict[str, Any]:
    column: dict[str, Any] = {"name": c.label, "id": c.key, "type": "numeric" if c.kind in NUMERIC_KINDS else "text"}
    specifier = {"money": ",.2f", "pct": ".1f", "ratio": ".2f"}.get(c.kind)
    if specifier:
        column["format"] = {"specifier": specifier}
    return column


def table_card(table: Table, user: CurrentUser, href: str, *, table_id: str | None = None,
               page_size: int = 12, row_ids: list[Any] | None = None, note: str = "") -> html.Div:
    records = table.records(show_contacts=user.can_see_contact)
    if row_ids is not None:
        for record, row_id in zip(records, row_ids):
            record["id"] = row_id
    columns = [_column(c) for c in table.columns]
    return html.Div([
        html.Div([html.H3(table.title), html.A("Export CSV", href=href, className="export",
                                                id=f"export-{table.name}")], className="card-head"),
        html.P(note, className="note") if note else None,
        dash_table.DataTable(
            id=table_id or f"table-{table.name}", columns=columns, data=records, page_size=page_size,
            sort_action="native", filter_action="native", style_table={"overflowX": "auto"},
            style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "6px", "textAlign": "left",
                        "maxWidth": "420px", "whiteSpace": "normal", "height": "auto"},
            style_header={"backgroundColor": "#f0edf8", "fontWeight": "600", "color": BRAND},
            style_data_conditional=[{"if": {"row_index": "odd"}, "backgroundColor": "#fbfaff"}],
            style_cell_conditional=[{"if": {"column_id": c.key}, "minWidth": "280px"}
                                    for c in table.columns if c.kind == "longtext"],
        ),
    ], className="card table-card")


def chart_card(title: str, figure: go.Figure, graph_id: str) -> html.Div:
    figure.update_layout(template="plotly_white", margin={"l": 40, "r": 16, "t": 16, "b": 40}, height=320,
                         legend={"orientation": "h", "y": -0.18}, font={"family": "system-ui, sans-serif"})
    return html.Div([html.H3(title), dcc.Graph(id=graph_id, figure=figure, config={"displaylogo": False})],
                    className="card chart-card")
