"""Framework models shared by every app: the base record, references, the journal, API tokens,
login attempts, the worker heartbeat and business calendars. No ITSM concepts live here."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone


class Sequence(models.Model):
    """A counter per record type that hands out reference numbers (``INC-000042``).

    The increment is a single ``UPDATE ... SET value = value + 1`` inside the creating
    transaction, so two concurrent creators are serialised by the row lock (PostgreSQL) or the
    write lock (SQLite) and never receive the same number."""

    prefix = models.CharField(max_length=12, primary_key=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}: {self.value}"


def next_reference(prefix: str, width: int = 6) -> str:
    """Return the next reference for ``prefix``; must run inside the creating transaction."""
    with transaction.atomic():
        updated = Sequence.objects.filter(prefix=prefix).update(value=F("value") + 1)
        if not updated:
            try:
                with transaction.atomic():
                    Sequence.objects.create(prefix=prefix, value=1)
                return f"{prefix}-{1:0{width}d}"
            except IntegrityError:
                # Another transaction created the counter first; take the normal path.
                Sequence.objects.filter(prefix=prefix).update(value=F("value") + 1)
        value = Sequence.objects.values_list("value", flat=True).get(prefix=prefix)
    return f"{prefix}-{value:0{width}d}"


class Record(models.Model):
    """Base for every domain record: created/updated timestamps and the acting user.

    ``JOURNAL_FIELDS`` lists the fields whose edits are journaled (default: all concrete
    editable fields except the bookkeeping ones)."""

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    JOURNAL_EXCLUDE: ClassVar[set[str]] = {
        "id",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "reference",
        "password",
    }

    class Meta:
        abstract = True

    @classmethod
    def journal_fields(cls) -> list[models.Field[Any, Any]]:
        return [
            f
            for f in cls._meta.concrete_fields
            if f.name not in cls.JOURNAL_EXCLUDE and not f.auto_created
        ]


class ReferencedRecord(Record):
    """A record with a human-friendly reference (``PREFIX-000001``) assigned on first save."""

    REFERENCE_PREFIX: ClassVar[str] = ""

    reference = models.CharField(max_length=20, unique=True, editable=False, blank=True)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.reference:
            if not self.REFERENCE_PREFIX:
                raise ValueError(f"{type(self).__name__} has no REFERENCE_PREFIX")
            with transaction.atomic():
                self.reference = next_reference(self.REFERENCE_PREFIX)
                super().save(*args, **kwargs)
            return
        super().save(*args, **kwargs)


class JournalEntry(models.Model):
    """One line of a record's history: who did what, when, with the before/after values of
    every changed field. Timelines, SLA clocks and reports are derived from these rows."""

    class Verb(models.TextChoices):
        CREATED = "created", "created"
        UPDATED = "updated", "updated"
        STATE_CHANGED = "state_changed", "changed state"
        ASSIGNED = "assigned", "assigned"
        COMMENTED = "commented", "commented"
        DELETED = "deleted", "deleted"
        MEMBERSHIP = "membership", "changed membership"

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="journal_entries",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    verb = models.CharField(max_length=20, choices=Verb.choices)
    changes = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at", "id"])]
        verbose_name_plural = "journal entries"
        # The gate to every agent screen; portal roles do not have it.
        permissions = [("agent_access", "Can use the agent screens")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.verb} {self.object_repr}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 hash is stored; the secret is shown once.

    A token acts as its user, narrowed by its scope: ``read`` tokens may only use safe
    methods. Revoked or expired tokens are refused."""

    class Scope(models.TextChoices):
        READ = "read", "read only"
        WRITE = "write", "read and write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    TOKEN_PREFIX: ClassVar[str] = "itl_"  # noqa: S105  (a public marker, not a secret)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="api_token_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user: Any, name: str, scope: str, expires_at: Any = None) -> tuple[Any, str]:
        """Create a token and return ``(token, secret)``; the secret is not stored."""
        secret = cls.TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls(
            user=user,
            name=name,
            scope=scope,
            expires_at=expires_at,
            prefix=secret[: len(cls.TOKEN_PREFIX) + 6],
            key_hash=cls.hash(secret),
        )
        token.full_clean()
        token.save()
        return token, secret

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class LoginAttempt(models.Model):
    """A failed login, kept to rate-limit guessing per username and per client address."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.at}"


class WorkerHeartbeat(models.Model):
    """The last time a background worker ran the heartbeat task, per worker name."""

    name = models.CharField(max_length=100, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at}"


def validate_timezone(value: str) -> None:
    import zoneinfo

    if not isinstance(value, str) or not value:
        raise ValidationError("Give a time zone name, e.g. Europe/Amsterdam.")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(
            f"{value!r} is not a known time zone (e.g. Europe/Amsterdam)"
        ) from None


def _default_hours() -> dict[str, list[str]]:
    office = ["08:00-12:00", "13:00-17:00"]
    return {"mon": office, "tue": office, "wed": office, "thu": office, "fri": office}


class BusinessCalendar(ReferencedRecord):
    """When the IT organisation works: opening hours per weekday (several intervals a day), a
    time zone, public holidays of a country (and subdivision) plus custom days off. SLA clocks
    and maintenance planning count business time on one of these."""

    REFERENCE_PREFIX = "CAL"

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(
        max_length=64, default="Europe/Amsterdam", validators=[validate_timezone]
    )
    working_hours = models.JSONField(
        default=_default_hours,
        help_text='Per weekday a list of "HH:MM-HH:MM" intervals, e.g. {"mon": ["08:00-12:00"]}',
    )
    country = models.CharField(
        max_length=10, blank=True, help_text="ISO country code for public holidays; empty for none"
    )
    subdivision = models.CharField(max_length=10, blank=True, help_text="State/province code")
    custom_holidays = models.JSONField(
        default=list, blank=True, help_text="Extra days off (YYYY-MM-DD)"
    )
    removed_holidays = models.JSONField(
        default=list,
        blank=True,
        help_text="Public holidays that are working days here (YYYY-MM-DD)",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("calendar-detail", args=[self.reference])

    @property
    def weekly_hours(self) -> float:
        from itline.core.calendar import CalendarError, WorkingHours

        try:
            return round(WorkingHours.from_dict(self.working_hours).weekly_minutes / 60, 2)
        except CalendarError:
            return 0.0

    @property
    def holiday_source(self) -> str:
        base = "-".join(p for p in (self.country, self.subdivision) if p) or "none"
        extra = len(self.custom_holidays or [])
        return f"{base} + {extra} custom" if extra else base

    def clean(self) -> None:
        from itline.core.calendar import CalendarError, WorkingHours

        errors: dict[str, str] = {}
        if not isinstance(self.working_hours, dict):
            errors["working_hours"] = 'Give an object like {"mon": ["08:00-17:00"]}.'
        else:
            try:
                if WorkingHours.from_dict(self.working_hours).is_empty():
                    errors["working_hours"] = "A calendar needs at least one working interval."
            except CalendarError as exc:
                errors["working_hours"] = str(exc)
        for field in ("custom_holidays", "removed_holidays"):
            try:
                self._dates(field)
            except ValueError as exc:
                errors[field] = str(exc)
        try:
            validate_timezone(self.time_zone)
        except ValidationError:
            return  # reported on time_zone by the field validator; nothing else is checkable
        if not errors:
            try:
                self.engine(cached=False)
            except CalendarError as exc:
                text = str(exc)
                errors["subdivision" if "subdivision" in text.lower() else "country"] = text
        if errors:
            raise ValidationError(errors)

    def _dates(self, field: str) -> list[Any]:
        import datetime as dt

        raw = getattr(self, field)
        if not isinstance(raw, list):
            raise ValueError('Give a list of dates like ["2026-12-24"].')
        out = []
        for item in raw:
            try:
                out.append(dt.date.fromisoformat(str(item)))
            except ValueError:
                raise ValueError(f"{item!r} is not a date (YYYY-MM-DD).") from None
        return out

    def engine(self, *, cached: bool = True) -> Any:
        """The arithmetic engine for this calendar (``itline.core.calendar.BusinessCalendar``),
        cached per process and rebuilt when the record changes."""
        from itline.core.calendar import BusinessCalendar as Engine

        hit = _ENGINES.get(self.pk)
        if cached and hit is not None and hit[0] == self.updated_at:
            return hit[1]
        engine = Engine.build(
            tz=self.time_zone,
            hours=self.working_hours,
            country=self.country or None,
            subdivision=self.subdivision or None,
            custom_holidays=self._dates("custom_holidays"),
            removed_holidays=self._dates("removed_holidays"),
        )
        if cached and self.pk:
            _ENGINES[self.pk] = (self.updated_at, engine)
        return engine


# calendar pk -> (updated_at it was built from, engine); one entry per calendar
_ENGINES: dict[Any, tuple[Any, Any]] = {}
from itline.core.saved_views import SavedView  # noqa: E402,F401
from itline.core.webhook_models import WebhookDelivery, WebhookSubscription  # noqa: E402,F401
