"""The itline command: help, configuration errors, createuser, token and demo."""

import io
import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from itline.core.models import ApiToken
from itline.org.models import Person


def _itline(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "itline", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_every_operator_command():
    result = _itline("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "demo", "createuser", "token", "check"):
        assert f"  {command}" in result.stdout


def test_a_missing_secret_key_without_debug_is_a_clear_start_up_error():
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "",
        "ITLINE_EMBEDDED": "false",
        "PYTEST_VERSION": "",
        "ITLINE_TESTING": "false",
    }
    result = _itline("migrate", env=env)
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_setting_names_the_variable():
    result = _itline("check", env={"DEBUG": "maybe"})
    assert result.returncode == 2
    assert "DEBUG must be a boolean" in result.stderr


def test_serve_refuses_a_bad_port():
    result = _itline("serve", "--port", "99999", env={"DEBUG": "true"})
    assert result.returncode != 0
    assert "--port must be between 1 and 65535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_createuser_makes_a_person_with_a_login_and_roles():
    out = io.StringIO()
    call_command(
        "createuser", "ingrid", "--name", "Ingrid Iversen", "--role", "incident_manager", stdout=out
    )
    person = Person.objects.get(name="Ingrid Iversen")
    assert person.user.username == "ingrid"
    assert set(person.user.groups.values_list("name", flat=True)) == {"incident_manager"}
    assert "Created PER-" in out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--role", "wizard"], "--role: unknown role wizard"),
        (["x", "--unit", "Atlantis"], "--unit: no business unit"),
        (["bad name!"], "username"),
    ],
)
def test_createuser_names_what_is_wrong_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("createuser", *args, stdout=io.StringIO())
    assert not Person.objects.exists()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_token_create_list_and_revoke():
    call_command("createuser", "ci-bot", "--role", "technician", stdout=io.StringIO())
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "token",
        "create",
        "--user",
        "ci-bot",
        "--name",
        "pipeline",
        "--scope",
        "write",
        stdout=out,
        stderr=err,
    )
    secret = out.getvalue().strip()
    token = ApiToken.objects.get(name="pipeline")
    assert token.key_hash == ApiToken.hash(secret)
    listing = io.StringIO()
    call_command("token", "list", stdout=listing)
    assert "pipeline" in listing.getvalue() and secret not in listing.getvalue()
    call_command("token", "revoke", str(token.pk), stdout=io.StringIO())
    token.refresh_from_db()
    assert token.revoked_at is not None
    with pytest.raises(CommandError, match="already revoked"):
        call_command("token", "revoke", str(token.pk), stdout=io.StringIO())
    with pytest.raises(CommandError, match="--user: no user named 'ghost'"):
        call_command("token", "create", "--user", "ghost", "--name", "x", stdout=io.StringIO())


@pytest.mark.django_db
@override_settings(DEMO_MODULES=["itline.org.demo"])
def test_demo_loads_the_organisation_once_and_if_empty_keeps_it():
    from itline.org.models import Customer, Function

    call_command("demo", stdout=io.StringIO())
    assert Function.objects.count() == 8
    assert Person.objects.count() == 40
    assert Customer.objects.count() == 4
    assert all(c.purchasers.exists() for c in Customer.objects.all())
    out = io.StringIO()
    call_command("demo", "--if-empty", stdout=out)
    assert "already present" in out.getvalue()
    assert Person.objects.count() == 40
    with pytest.raises(CommandError, match="use --reset"):
        call_command("demo", stdout=io.StringIO())
    call_command("demo", "--reset", "--yes", stdout=io.StringIO())
    assert Person.objects.count() == 40
