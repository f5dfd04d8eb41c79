from django.apps import AppConfig


class GenaisiteConfig(AppConfig):
    name = "genaisite"
    verbose_name = "Site infrastructure"
