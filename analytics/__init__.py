"""Supervisor analytics: is retention working, and is it profitable? (issue 6).

* :mod:`analytics.metrics`: the figures (SQLAlchemy queries, typed results), shared by all below.
* :mod:`analytics.app`: the Dash dashboard on :8050 (login required; ``python -m analytics.app``).
* :mod:`analytics.users`: dashboard accounts (``python -m analytics.users create NAME --role ...``).
* :mod:`analytics.report`: the same figures on the command line (``python -m analytics.report``).
* :mod:`analytics.demo_data`: deterministic retention history for the demo and the benchmarks.
"""
