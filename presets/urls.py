from django.urls import path

from presets import views

app_name = "presets"

urlpatterns = [
    path("", views.presets_page, name="list"),
    path("new/", views.preset_new, name="new"),
    path("<slug:slug>/edit/", views.preset_edit, name="edit"),
    path("<slug:slug>/duplicate/", views.preset_duplicate, name="duplicate"),
    path("<slug:slug>/delete/", views.preset_delete, name="delete"),
]
