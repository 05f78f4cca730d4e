"""Domain rules of retention, independent of Rasa and of the web.

Customers, tariffs, offers, subscriptions, retention, verification, action plans,
handoff and campaigns. Nothing here imports Rasa (``tests/test_layers.py``).
"""
