"""Classify utterances with the trained model, on the bot's own code path.

    .venv/bin/python -m bot.nlu.classify < utterances.txt

Reads one utterance per line from stdin and writes one JSON line each:
``{"text", "language": "es"|"en", "cancel": bool, "reason": code|null, "confidence": float}``.
"""

from __future__ import annotations

import argparse
import json
import sys

from bot.nlu.model import Parser

MAX_CHARS = 5000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model file or folder (default: newest in models/)")
    args = ap.parse_args(argv)
    try:
        parser = Parser(args.model)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in sys.stdin:
        text = line.rstrip("\r\n")[:MAX_CHARS]
        result = parser.understand(text).as_json()
        result["text"] = text
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
