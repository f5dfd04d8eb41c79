"""Single sign-on with OpenID Connect, on django-allauth's openid_connect provider (docs/sso.md)."""
