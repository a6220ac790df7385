from __future__ import annotations

from django.urls import path

from . import api, health, views, webhooks

app_name = "inbox"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("live", views.live_poll, name="live"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/reply", views.reply, name="reply"),
    path("c/<int:pk>/note", views.note, name="note"),
    path("c/<int:pk>/typing", views.typing, name="typing"),
    path("c/<int:pk>/status", views.set_status, name="status"),
    path("c/<int:pk>/assign", views.assign, name="assign"),
    path("m/<int:pk>/retry", views.retry, name="retry"),
    path("m/<int:pk>/hide", views.hide, name="hide"),
    path("webhooks/meta", webhooks.meta_webhook, name="meta_webhook"),
    path("healthz", health.healthz, name="healthz"),
    path("api/v1/pages/<str:meta_page_id>/responsiveness", api.responsiveness, name="api_responsiveness"),
    path("api/v1/pages/<str:meta_page_id>/conversations", api.conversations, name="api_conversations"),
]

# Business hours: a Page's settings (admins) and the away switch (any member).
from . import hours_views  # noqa: E402

urlpatterns += [
    path("settings/", hours_views.settings_index, name="settings"),
    path("pages/<int:page_id>/settings/", hours_views.page_settings_view, name="page_settings"),
    path("pages/<int:page_id>/settings/general", hours_views.general_update, name="settings_general"),
    path("pages/<int:page_id>/settings/timezone", hours_views.timezone_update, name="settings_timezone"),
    path("pages/<int:page_id>/settings/hours/add", hours_views.interval_add, name="interval_add"),
    path("pages/<int:page_id>/settings/hours/<int:interval_id>/remove", hours_views.interval_remove,
         name="interval_remove"),
    path("pages/<int:page_id>/settings/hours/copy", hours_views.day_copy, name="day_copy"),
    path("pages/<int:page_id>/settings/closures/add", hours_views.closure_add, name="closure_add"),
    path("pages/<int:page_id>/settings/closures/<int:closure_id>/remove", hours_views.closure_remove,
         name="closure_remove"),
    path("pages/<int:page_id>/settings/closures/holidays", hours_views.holidays_add, name="holidays_add"),
    path("pages/<int:page_id>/settings/away-messages/<str:language>", hours_views.away_message_save,
         name="away_message_save"),
    path("pages/<int:page_id>/away", hours_views.away_switch, name="away_switch"),
    path("hours/header", hours_views.inbox_header, name="hours_header"),
]

# Responsiveness: the dashboard, its CSV export and the live SLA banner.
from . import dashboard_views  # noqa: E402

urlpatterns += [
    path("dashboard/", dashboard_views.index, name="dashboard"),
    path("dashboard/<int:page_id>/", dashboard_views.page_dashboard, name="dashboard_page"),
    path("dashboard/<int:page_id>/export.csv", dashboard_views.export_csv, name="dashboard_export"),
    path("dashboard/sla-banner", dashboard_views.sla_banner, name="sla_banner"),
]
