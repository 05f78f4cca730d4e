"""Start the Rasa server as ``make run`` does: channels from credentials.yml, the HTTP API
enabled only with an auth token (used by agents to reply and resume handed-off chats).

The token is ``RASA_API_TOKEN``, or a random one kept in ``var/rasa_api_token`` so that the
other local processes (agent endpoints) can read it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bot.settings import persistent_secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN_FILE = PROJECT_ROOT / "var" / "rasa_api_token"


def rasa_api_token() -> str:
    return persistent_secret("RASA_API_TOKEN", TOKEN_FILE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", default=os.environ.get("RASA_PORT", "5005"))
    ap.add_argument("--model", default=str(PROJECT_ROOT / "models"))
    args = ap.parse_args(argv)
    rasa = str(Path(sys.executable).parent / "rasa")
    cmd = [rasa, "run", "--model", args.model, "--port", str(args.port), "--cors", "*",
           "--credentials", str(PROJECT_ROOT / "credentials.yml"),
           "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
           "--enable-api", f"--auth-token={rasa_api_token()}"]  # "=": a token may start with "-"
    os.execv(rasa, cmd)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
