"""Dashboard accounts on the command line (passwords are stored hashed, never in clear).

    python -m analytics.users create USERNAME --role supervisor [--can-see-contact] [--password-stdin]
    python -m analytics.users password USERNAME [--password-stdin]   # new password (ends its sessions)
    python -m analytics.users list
    python -m analytics.users delete USERNAME

Roles: ``admin`` and ``supervisor`` see the whole dashboard, ``agent`` only the handoff queue.
``--can-see-contact`` shows phone numbers and e-mails unmasked (in pages and CSV exports).
Without ``--password-stdin`` the password is asked twice on the terminal. Passwords need at least
``MIN_PASSWORD_LENGTH`` characters and are hashed with werkzeug's ``generate_password_hash``.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from bot.storage.db import session_scope, upgrade_database
from bot.storage.models import DashboardUser

ROLES: tuple[str, ...] = ("admin", "supervisor", "agent")
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,79}$")


class UserError(ValueError):
    """A refused command (bad name, role or password, unknown or duplicate user)."""


@dataclass(frozen=True)
class UserInfo:
    username: str
    role: str
    can_see_contact: bool
    created_at: datetime
    last_login_at: datetime | None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise UserError("the password must not start or end with spaces")


def create_user(session: Session, username: str, password: str, role: str = "supervisor",
                can_see_contact: bool = False) -> DashboardUser:
    if not _USERNAME.match(username):
        raise UserError("user names are 2-80 letters, digits, '.', '_', '-' or '@'")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    check_password(password)
    if session.scalar(select(DashboardUser).where(DashboardUser.username == username)) is not None:
        raise UserError(f"user {username!r} exists already")
    user = DashboardUser(username=username, password_hash=generate_password_hash(password), role=role,
                         can_see_contact=can_see_contact)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> None:
    user = _get(session, username)
    check_password(password)
    user.password_hash = generate_password_hash(password)


def delete_user(session: Session, username: str) -> None:
    session.delete(_get(session, username))


def list_users(session: Session) -> list[UserInfo]:
    return [UserInfo(u.username, u.role, bool(u.can_see_contact), u.created_at, u.last_login_at)
            for u in session.scalars(select(DashboardUser).order_by(DashboardUser.username))]


def _get(session: Session, username: str) -> DashboardUser:
    user = session.scalar(select(DashboardUser).where(DashboardUser.username == username))
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise UserError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    parser = argparse.ArgumentParser(description="Manage the analytics dashboard's users.")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="add a user")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, default="supervisor")
    create.add_argument("--can-see-contact", action="store_true", help="show phone numbers and e-mails unmasked")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    password = sub.add_parser("password", help="set a new password (ends the user's sessions)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    sub.add_parser("list", help="list the users")
    delete = sub.add_parser("delete", help="remove a user (ends their sessions)")
    delete.add_argument("username")
    args = parser.parse_args(argv)

    upgrade_database()
    try:
        if args.command == "list":
            with session_scope() as session:
                users = list_users(session)
            if not users:
                print("no users yet")
            for u in users:
                last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
                print(f"{u.username:<24} {u.role:<11} contact={'yes' if u.can_see_contact else 'no':<4} "
                      f"last login: {last}")
            return 0
        if args.command == "delete":
            with session_scope() as session:
                delete_user(session, args.username)
            print(f"user {args.username!r} deleted")
            return 0
        secret = _read_password(args.password_stdin)
        with session_scope() as session:
            if args.command == "create":
                create_user(session, args.username, secret, args.role, args.can_see_contact)
                print(f"user {args.username!r} created (role {args.role}, contact data "
                      f"{'visible' if args.can_see_contact else 'masked'})")
            else:
                set_password(session, args.username, secret)
                print(f"password of {args.username!r} changed")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
