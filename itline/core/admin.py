from django.contrib import admin

from itline.core.admin_helpers import ReadOnlyAdmin
from itline.core.models import (
    ApiToken,
    BusinessCalendar,
    JournalEntry,
    LoginAttempt,
    Sequence,
    WorkerHeartbeat,
)


@admin.register(JournalEntry)
class JournalEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("at", "actor_label", "verb", "content_type", "object_repr")
    list_filter = ("verb", "content_type")
    search_fields = ("object_repr", "actor_label")
    readonly_fields = [f.name for f in JournalEntry._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # history is written by the verbs, never by hand

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "user", "prefix", "scope", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope",)
    readonly_fields = ("prefix", "key_hash", "last_used_at")


for model in (LoginAttempt, Sequence, WorkerHeartbeat, BusinessCalendar):
    admin.site.register(model, ReadOnlyAdmin)
