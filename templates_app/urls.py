from __future__ import annotations

from django.urls import path

from . import views

app_name = "templates_app"
urlpatterns = [
    path("", views.index, name="index"),
    path("page/<int:page_id>/", views.page_list, name="page_list"),
    path("personal/", views.personal_list, name="personal_list"),
    path("page/<int:page_id>/new/", views.create_for_page, name="create_for_page"),
    path("personal/new/", views.create_personal, name="create_personal"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/archive/", views.archive, name="archive"),
    path("<int:pk>/restore/", views.restore, name="restore"),
    path("<int:pk>/duplicate/", views.duplicate, name="duplicate"),
    path("preview/", views.preview, name="preview"),
    path("page/<int:page_id>/import/", views.import_for_page, name="import_for_page"),
    path("personal/import/", views.import_personal, name="import_personal"),
    path("page/<int:page_id>/export.csv", views.export_for_page, name="export_for_page"),
    path("personal/export.csv", views.export_personal, name="export_personal"),
    path("page/<int:page_id>/guidance/", views.guidance_settings, name="guidance_settings"),
    # The composer (inside a conversation).
    path("conversations/<int:conversation_id>/picker/", views.picker, name="picker"),
    path("conversations/<int:conversation_id>/insert/<int:pk>/", views.insert, name="insert"),
    path("conversations/<int:conversation_id>/guidance/", views.guidance, name="guidance"),
]
