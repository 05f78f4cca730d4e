"""Thin Rasa SDK actions: they translate between the tracker and ``bot/``."""
