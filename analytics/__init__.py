"""Supervisor analytics: is retention working, and is it profitable? (issue 6).

The figures (SQLAlchemy queries, typed results), shared by all below:

* :mod:`analytics.filters`: the scope of a view (:class:`~analytics.filters.Filters`) and the SQL helpers.
* :mod:`analytics.results`: the typed results (rates, counts, the :class:`~analytics.results.Dashboard`).
* :mod:`analytics.figures`: :func:`~analytics.figures.load_dashboard`, every figure of the main view.
* :mod:`analytics.returns`: real saves, revenue kept and offer cost.
* :mod:`analytics.tracker_store`: Rasa's tracker store (NLU fallback rate, transcripts).
* :mod:`analytics.lists`: conversations, case detail, action plans, the handoff queue.
* :mod:`analytics.tables`: the tables shown, exported and printed, with contact data masked.

The programs:

* :mod:`analytics.app`: the Dash dashboard on :8050 (login required; ``python -m analytics.app``).
  Its parts: :mod:`~analytics.config` (settings), :mod:`~analytics.guards` (access checks, headers),
  :mod:`~analytics.login`, :mod:`~analytics.session` (who is logged in), :mod:`~analytics.exports` (CSV
  exports, tables by name), :mod:`~analytics.layout`, :mod:`~analytics.pages`, :mod:`~analytics.components`,
  :mod:`~analytics.charts`, :mod:`~analytics.theme`, and the agent desk :mod:`~analytics.agent`.
* :mod:`analytics.users`: dashboard accounts (``python -m analytics.users create NAME --role ...``).
* :mod:`analytics.report`: the same figures on the command line (``python -m analytics.report``).
* :mod:`analytics.demo_data`: deterministic retention history for the demo and the benchmarks (the
  simulation is :mod:`~analytics.demo_simulation`, writing its rows :mod:`~analytics.demo_rows`).
"""
