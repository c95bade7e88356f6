"""URL map: UI pages, the API under /api/v1/, health and metrics."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from itline.cmdb.api import router as cmdb_router
from itline.cmdb.exchange_api import router as exchange_router
from itline.cmdb.impact_api import router as impact_router
from itline.core import views as core_views
from itline.core.api import api
from itline.core.api import router as core_router
from itline.core.api_calendars import router as calendar_router
from itline.core.api_webhooks import router as webhook_router
from itline.core.auth import LoginView, password_reset_view
from itline.delivery.api import router as delivery_router
from itline.operation.alerts_api import router as alerts_router
from itline.operation.api import router as operation_router
from itline.operation.correlation_api import router as correlation_router
from itline.operation.maintenance_api import router as maintenance_router
from itline.operation.problems_api import router as problems_router
from itline.operation.sla_api import router as sla_router
from itline.org.api import router as org_router
from itline.relations.api import router as relations_router
from itline.transition.api import router as transition_router
from itline.transition.deploy_api import router as deploy_router
from itline.transition.gate_api import router as gate_router

api.add_router("/", core_router)
api.add_router("/", org_router)
api.add_router("/", calendar_router)
api.add_router("/", impact_router)
api.add_router("/", cmdb_router)
api.add_router("/", exchange_router)
api.add_router("/", relations_router)
api.add_router("/", operation_router)
api.add_router("/", sla_router)
api.add_router("/", problems_router)
api.add_router("/", alerts_router)
api.add_router("/", correlation_router)
api.add_router("/", maintenance_router)
# Fixed paths (/changes/gate, /changes/metrics) before the /changes/{ref} routes.
api.add_router("/", gate_router)
api.add_router("/", deploy_router)
api.add_router("/", transition_router)
api.add_router("/", delivery_router)
api.add_router("/", webhook_router)

handler403 = "itline.core.views.error_403"
handler404 = "itline.core.views.error_404"
handler500 = "itline.core.views.error_500"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("search/", core_views.search, name="search"),
    path("planned/<slug:slug>/", core_views.planned, name="planned"),
    path("journal/", core_views.journal_list, name="journal"),
    path("profile/", core_views.profile, name="profile"),
    path("profile/tokens/<int:token_id>/revoke/", core_views.revoke_token, name="revoke-token"),
    path("calendars/", core_views.calendar_list, name="calendar-list"),
    path("calendars/new/", core_views.calendar_create, name="calendar-create"),
    path("calendars/<str:ref>/", core_views.calendar_detail, name="calendar-detail"),
    path("calendars/<str:ref>/edit/", core_views.calendar_edit, name="calendar-edit"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(template_name="core/password_change.html"),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="core/password_change_done.html"),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        password_reset_view(),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="core/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="core/password_reset_confirm.html"
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="core/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("org/", include("itline.org.urls")),
    path("structure/", include("itline.cmdb.urls")),
    path("", include("itline.operation.urls")),
    path("", include("itline.operation.problem_urls")),
    path("portal/", include("itline.operation.portal_urls")),
    path("", include("itline.operation.notify_urls")),
    path("agreements/", include("itline.relations.urls")),
    path("improvements/", include("itline.delivery.urls")),
    path("alerts/", include("itline.operation.alert_urls")),
    path("maintenance/", include("itline.operation.maintenance_urls")),
    path("", include("itline.transition.urls")),
    path("webhooks/", include("itline.core.webhook_urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", core_views.metrics, name="metrics"),
]
