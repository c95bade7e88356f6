from django.contrib import admin

from itline.org.models import BusinessUnit, Customer, Function, Membership, Person, Purchaser


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    extra = 0


@admin.register(Function)
class FunctionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("reference", "name", "governance_level", "lead", "active")
    search_fields = ("name", "reference")
    inlines = [MembershipInline]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("reference", "name", "email", "business_unit", "user", "active")
    search_fields = ("name", "email", "reference")
    list_filter = ("active", "business_unit")


admin.site.register(BusinessUnit)
admin.site.register(Customer)
admin.site.register(Purchaser)
