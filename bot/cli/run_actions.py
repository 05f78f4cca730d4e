"""Start the action server as ``make run`` does: rasa_sdk's own server, on the loopback by
default (``ACTION_SERVER_HOST``), answering only requests that carry the shared secret.

Whoever can post to the action server runs any action on a tracker of their own making (slots
``verified`` and ``customer_id`` included): they could cancel any customer's subscription or
read another customer's profile. Only Rasa has a reason to call it, and Rasa sends the secret
in the ``X-Action-Token`` header (``endpoints.yml``). The secret is ``ACTION_SERVER_TOKEN``, or
a random one kept in ``var/action_server_token`` that ``bot.cli.run_rasa`` reads too. ``GET
/health`` stays open for monitors; it tells nothing.
"""

from __future__ import annotations

import argparse
import hmac
import logging
from http import HTTPStatus

from rasa_sdk import utils
from rasa_sdk.constants import DEFAULT_SERVER_PORT
from rasa_sdk.endpoint import create_app as create_sdk_app
from rasa_sdk.endpoint import create_ssl_context
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config.settings import action_server_host, action_server_token, protect_data_files

TOKEN_HEADER = "X-Action-Token"
OPEN_ROUTES = frozenset({("GET", "/health")})

logger = logging.getLogger(__name__)


def token_matches(supplied: str | None, expected: str) -> bool:
    """Constant-time comparison, so the answer's timing tells nothing about the secret."""
    if supplied is None:
        return False
    return hmac.compare_digest(supplied.encode("utf-8"), expected.encode("utf-8"))


def require_token(app: Sanic, token: str) -> None:
    """Refuse every request but ``GET /health`` without the secret: 401 missing, 403 wrong."""

    @app.middleware("request")
    async def check_token(request: Request) -> HTTPResponse | None:
        if (request.method, request.path) in OPEN_ROUTES:
            return None
        supplied = request.headers.get(TOKEN_HEADER)
        if supplied is None:
            return response.json({"error": f"missing {TOKEN_HEADER} header"}, status=401)
        if not token_matches(supplied, token):
            return response.json({"error": f"invalid {TOKEN_HEADER} header"}, status=403)
        return None


def hide_request_in_errors(app: Sanic) -> None:
    """Replace rasa_sdk's exception handler, which answers a 500 with the request's body (a
    whole tracker: the conversation and the customer's slots)."""

    @app.exception(Exception)
    async def handle_error(request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, SanicException):  # 404, 405, 400...: the status is the answer
            status = int(exception.status_code)
            return response.json({"error": HTTPStatus(status).phrase}, status=status)
        logger.error("action server error on %s %s", request.method, request.path, exc_info=exception)
        return response.json({"error": "internal error of the action server"}, status=500)


def create_app(token: str, actions_package: str = "actions") -> Sanic:
    """rasa_sdk's application with the secret required and errors that echo nothing.

    No CORS origin is allowed: browsers have no business calling the action server.
    """
    if not token:
        raise ValueError("the action server needs a non-empty token")
    app = create_sdk_app(actions_package, cors_origins="")
    require_token(app, token)
    hide_request_in_errors(app)
    return app


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot.cli.run_actions", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default=None, help="interface (ACTION_SERVER_HOST, default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=DEFAULT_SERVER_PORT, help="port (default 5055)")
    ap.add_argument("--actions", default="actions", help="package of the actions (default actions)")
    ap.add_argument("--ssl-certificate", default=None, help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--ssl-keyfile", default=None, help="its private key (PEM)")
    utils.add_logging_level_option_arguments(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    protect_data_files()
    args = _parser().parse_args(argv)
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    app = create_app(action_server_token(), args.actions)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile)
    host = args.host or action_server_host()
    logger.info("action server on %s://%s:%s (requests need %s)",
                "https" if ssl_context else "http", host, args.port, TOKEN_HEADER)
    app.run(host, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
