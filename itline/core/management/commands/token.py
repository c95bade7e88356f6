"""``itline token``: create, list and revoke API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from itline.core import tokens
from itline.core.errors import DomainError
from itline.core.models import ApiToken


class Command(BaseCommand):
    help = "Create, list and revoke API tokens: token create|list|revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke")
        create = sub.add_parser("create", help="create a token and print its secret once")
        create.add_argument("--user", required=True, help="username the token acts as")
        create.add_argument("--name", required=True, help="what the token is for, e.g. ci")
        create.add_argument("--scope", choices=ApiToken.Scope.values, default="read")
        create.add_argument("--days", type=int, help="expire after this many days")
        lst = sub.add_parser("list", help="list tokens (never their secrets)")
        lst.add_argument("--user", help="only this user's tokens")
        revoke = sub.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("id", type=int)

    def _user(self, username: str) -> Any:
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"--user: no user named {username!r}") from None

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        if action == "create":
            user = self._user(opts["user"])
            expires = None
            if opts["days"] is not None:
                if opts["days"] < 1:
                    raise CommandError("--days must be at least 1")
                expires = timezone.now() + timedelta(days=opts["days"])
            try:
                token, secret = tokens.create_token(
                    user=user, name=opts["name"], scope=opts["scope"], expires_at=expires
                )
            except ValidationError as exc:
                raise CommandError(
                    "; ".join(
                        f"--{k.replace('_', '-')}: {' '.join(v)}"
                        for k, v in exc.message_dict.items()
                    )
                ) from None
            self.stderr.write(
                f"Token {token.id} {token.name!r} ({token.scope}) for {user.username}; "
                "the secret below is shown once:"
            )
            self.stdout.write(secret)
        elif action == "list":
            qs = ApiToken.objects.select_related("user")
            if opts["user"]:
                qs = qs.filter(user=self._user(opts["user"]))
            self.stdout.write(
                f"{'ID':>4}  {'USER':<16} {'NAME':<20} {'SCOPE':<6} {'PREFIX':<11} {'LAST USED':<17} STATE"
            )
            for t in qs:
                state = "revoked" if t.revoked_at else ("expired" if not t.is_active else "active")
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                self.stdout.write(
                    f"{t.id:>4}  {t.user.username:<16} {t.name:<20} {t.scope:<6} {t.prefix:<11} {used:<17} {state}"
                )
        else:
            try:
                token = ApiToken.objects.get(pk=opts["id"])
            except ApiToken.DoesNotExist:
                raise CommandError(f"no token with id {opts['id']}") from None
            try:
                tokens.revoke_token(token, by=None)
            except DomainError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(f"Revoked token {token.id} {token.name!r}.")
