"""``itline createuser``: a person with a login and roles, from the command line."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from itline.org import services
from itline.org.models import BusinessUnit
from itline.org.roles import ROLE_BY_SLUG


class Command(BaseCommand):
    help = "Create a person with a login and roles (the operator acts as the installation)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", help="full name (default: the username)")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--role",
            action="append",
            dest="roles",
            default=[],
            help=f"repeatable; one of: {', '.join(ROLE_BY_SLUG)}",
        )
        parser.add_argument("--unit", help="business unit reference or name")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        parser.add_argument("--superuser", action="store_true", help="also a Django superuser")

    def handle(self, *args: Any, **opts: Any) -> None:
        roles = opts["roles"] or ["requester"]
        unknown = [r for r in roles if r not in ROLE_BY_SLUG]
        if unknown:
            raise CommandError(
                f"--role: unknown role {', '.join(unknown)}; known roles: {', '.join(ROLE_BY_SLUG)}"
            )
        unit = None
        if opts["unit"]:
            unit = (
                BusinessUnit.objects.filter(reference=opts["unit"]).first()
                or BusinessUnit.objects.filter(name__iexact=opts["unit"]).first()
            )
            if unit is None:
                raise CommandError(f"--unit: no business unit {opts['unit']!r}")
        password = None
        if opts["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("--password-stdin: no password on standard input")
        try:
            with transaction.atomic():
                person = services.create_person(
                    by=None,
                    name=opts["name"] or opts["username"],
                    email=opts["email"],
                    business_unit=unit,
                )
                user = services.create_login(
                    person, by=None, username=opts["username"], password=password, roles=roles
                )
                if opts["superuser"]:
                    user.is_superuser = user.is_staff = True
                    user.save(update_fields=["is_superuser", "is_staff"])
        except ValidationError as exc:
            details = (
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
                if hasattr(exc, "error_dict")
                else " ".join(exc.messages)
            )
            raise CommandError(details) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {person.reference} {person.name} with login {user.username} "
            )
            + f"(roles: {', '.join(roles)})"
        )
        if password is None:
            self.stdout.write("No password set: use password reset, or pass --password-stdin.")
