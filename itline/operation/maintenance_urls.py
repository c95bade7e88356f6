"""Agent pages of preventive maintenance: windows, plans, work orders, the calendar and its
iCalendar feeds."""

from django.urls import path

from itline.operation.views import maintenance as views

app_name = "maintenance"

urlpatterns = [
    path("", views.calendar_view, name="calendar"),
    path("feed.ics", views.feed_view, name="feed"),
    path("windows/", views.window_list, name="window-list"),
    path("windows/new/", views.window_create, name="window-create"),
    path("windows/<str:ref>/", views.window_detail, name="window-detail"),
    path("windows/<str:ref>/edit/", views.window_edit, name="window-edit"),
    path("windows/<str:ref>/delete/", views.window_delete, name="window-delete"),
    path("plans/", views.plan_list, name="plan-list"),
    path("plans/new/", views.plan_create, name="plan-create"),
    path("plans/<str:ref>/", views.plan_detail, name="plan-detail"),
    path("plans/<str:ref>/edit/", views.plan_edit, name="plan-edit"),
    path("plans/<str:ref>/generate/", views.plan_generate, name="plan-generate"),
    path("work-orders/", views.work_order_list, name="work-order-list"),
    path("work-orders/new/", views.work_order_create, name="work-order-create"),
    path("work-orders/<str:ref>/", views.work_order_detail, name="work-order-detail"),
    path("work-orders/<str:ref>/start/", views.work_order_start, name="work-order-start"),
    path("work-orders/<str:ref>/reopen/", views.work_order_reopen, name="work-order-reopen"),
    path("work-orders/<str:ref>/complete/", views.work_order_complete, name="work-order-complete"),
    path("work-orders/<str:ref>/cancel/", views.work_order_cancel, name="work-order-cancel"),
    path("work-orders/<str:ref>/assign/", views.work_order_assign, name="work-order-assign"),
    path(
        "work-orders/<str:ref>/checklist/<int:index>/",
        views.work_order_tick,
        name="work-order-tick",
    ),
]
