"""Custom Rasa NLU components (language detection, multilingual sentence encoder)."""
