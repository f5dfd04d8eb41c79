from django.urls import path

from ml import views

app_name = "ml"

urlpatterns = [path("", views.ml_page, name="models")]
