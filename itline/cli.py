"""The ``itline`` command. Each subcommand is a Django management command, so
``itline help <command>`` shows its options; ``itline --help`` lists the ones operators use."""

from __future__ import annotations

import os
import sys

HELP = """\
usage: itline <command> [options]

Run and operate itline. Configuration comes from environment variables
(docs/configuration.md); the default is SQLite under ./var.

commands:
  serve        start the production web server (gunicorn) and a background worker
               (--no-worker to run the web server only); serves static files
  worker       run background tasks and the periodic scheduler (--no-scheduler)
  migrate      create or upgrade the database schema
  demo         load the demo organisation, structure, agreements and 90 days of service desk history
  createuser   create a person with a login and roles
  token        create, list and revoke API tokens (token create|list|revoke)
  check        check the configuration and the database connection
  export       write the service structure as YAML or JSON files (structure as code)
  import       load structure files (--dry-run shows the diff; --prune) or a CSV of components
  mail         receive service desk e-mail: SMTP listener on MAIL_LISTEN (--listen HOST:PORT),
               --imap also polls IMAP_URL, --once polls it once (docs/email.md)
  sla          SLA clocks: recompute (--incident REF, --agreement REF, --all) after a
               calendar, holiday or agreement edit; scan (warnings and breaches now)
  help CMD     show the options of one command

Every Django management command (dbshell, shell, collectstatic, ...) works too.
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args in (["-h"], ["--help"], ["help"]):
        print(HELP, end="")
        return 0
    if args in (["--version"], ["version"]):
        from importlib.metadata import version

        print(f"itline {version('itline')}")
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itline.settings")
    if args[0] == "help" or "--help" in args or "-h" in args:
        # Reading a command's options needs no secrets or database.
        os.environ.setdefault("ITLINE_HELP_ONLY", "true")
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as exc:
        print(f"itline: configuration error: {exc}", file=sys.stderr)
        return 2
    from django.core.management import execute_from_command_line

    if args[0] == "check":
        # Operators want the whole picture: deployment advice and a real database connection.
        args += [a for a in ("--deploy", "--database=default") if a.split("=")[0] not in args]
    execute_from_command_line(["itline", *args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
