from __future__ import annotations

from django.db import models

from itline.operation.choices import NotificationEvent


class NotificationPreference(models.Model):
    """Whether a person wants e-mail for an event. No row means yes: people opt out."""

    person = models.ForeignKey(
        "org.Person", on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(max_length=20, choices=NotificationEvent.choices)
    email = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "event"], name="notification_pref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.event}: {'on' if self.email else 'off'}"
