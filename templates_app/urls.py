from __future__ import annotations

app_name = "templates_app"
urlpatterns: list = []
