"""Mounted under /accounts/: /accounts/oidc/<provider id>/login/ and its callback (register that one at the
provider). The names are allauth's, which its provider reverses."""

from django.urls import path

from accounts.sso import views

urlpatterns = [
    path("oidc/<str:provider_id>/login/", views.login, name="openid_connect_login"),
    path("oidc/<str:provider_id>/login/callback/", views.callback, name="openid_connect_callback"),
]
