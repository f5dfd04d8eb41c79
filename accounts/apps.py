from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.policies import ensure_role_policies

        # Every role needs its policy row; recreated if missing after migrate (and after flush in tests).
        post_migrate.connect(ensure_role_policies, sender=self)
