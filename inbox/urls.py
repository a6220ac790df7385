from __future__ import annotations

from django.urls import path

from . import api, health, views, webhooks

app_name = "inbox"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("webhooks/meta", webhooks.meta_webhook, name="meta_webhook"),
    path("healthz", health.healthz, name="healthz"),
    path("api/v1/pages/<str:meta_page_id>/responsiveness", api.responsiveness, name="api_responsiveness"),
    path("api/v1/pages/<str:meta_page_id>/conversations", api.conversations, name="api_conversations"),
]
