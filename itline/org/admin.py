"""Read-only views of the organisation in the Django admin; edit in itline's own pages or API
(they journal every change)."""

from django.contrib import admin

from itline.core.admin_helpers import ReadOnlyAdmin
from itline.org.models import BusinessUnit, Customer, Function, Membership, Person, Purchaser


@admin.register(Function)
class FunctionAdmin(ReadOnlyAdmin):
    list_display = ("reference", "name", "governance_level", "lead", "active")
    search_fields = ("name", "reference")


@admin.register(Person)
class PersonAdmin(ReadOnlyAdmin):
    list_display = ("reference", "name", "email", "business_unit", "user", "active")
    search_fields = ("name", "email", "reference")
    list_filter = ("active",)


for model in (BusinessUnit, Customer, Purchaser, Membership):
    admin.site.register(model, ReadOnlyAdmin)
