"""Thin Rasa SDK actions: they translate between the tracker and ``bot/``.

The business data files are validated when the action server imports this package, so an
invalid catalogue stops start-up with an error naming the file and the entry.
"""

from bot.config.check import validate_all

validate_all()
