"""Start the Rasa server as ``make run`` does: channels from credentials.yml, the HTTP API
enabled only with an auth token (used by agents to reply and resume handed-off chats).

The token is ``RASA_API_TOKEN``, or a random one kept in ``var/rasa_api_token`` so that the
other local processes (agent endpoints) can read it. Rasa runs inside this process (its
``main`` with an argument list set here), not as ``rasa run --auth-token=...``: a command
line is readable by every local user (``ps``, ``/proc/<pid>/cmdline``) and the kernel keeps
the one this process was started with, so no secret ever appears on one.

The action server's secret (``bot.config.settings.action_server_token``) goes into this process's
environment as ``ACTION_SERVER_TOKEN``, where ``endpoints.yml`` reads it
(``X-Action-Token: ${ACTION_SERVER_TOKEN}``).
"""

from __future__ import annotations

import argparse
import os
import sys

from bot.config.settings import PROJECT_ROOT, action_server_token, persistent_secret, protect_data_files

TOKEN_FILE = PROJECT_ROOT / "var" / "rasa_api_token"


def rasa_api_token() -> str:
    return persistent_secret("RASA_API_TOKEN", TOKEN_FILE)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot.cli.run_rasa", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", default=os.environ.get("RASA_PORT", "5005"))
    ap.add_argument("--interface", default="0.0.0.0", help="interface to listen on (default all)")
    ap.add_argument("--model", default=str(PROJECT_ROOT / "models"))
    ap.add_argument("--credentials", default=str(PROJECT_ROOT / "credentials.yml"))
    ap.add_argument("--endpoints", default=str(PROJECT_ROOT / "endpoints.yml"))
    return ap


def rasa_arguments(args: argparse.Namespace, api_token: str) -> list[str]:
    """The ``rasa run`` arguments (only ever in this process's memory: they hold the token)."""
    return ["rasa", "run", "--model", str(args.model), "--port", str(args.port),
            "--interface", str(args.interface), "--cors", "*",
            "--credentials", str(args.credentials), "--endpoints", str(args.endpoints),
            "--enable-api", f"--auth-token={api_token}"]  # "=": a token may start with "-"


def main(argv: list[str] | None = None) -> int:
    protect_data_files()
    args = _parser().parse_args(argv)
    os.environ["ACTION_SERVER_TOKEN"] = action_server_token()
    sys.argv = rasa_arguments(args, rasa_api_token())
    from rasa.__main__ import main as rasa_main  # heavy (TensorFlow): imported only to run

    rasa_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
