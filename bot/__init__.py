"""Nubia retention assistant: domain logic usable without a running Rasa."""
