from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import ApiKeyScope
from core.errors import ServiceError


class Command(BaseCommand):
    help = "Create an API key for a user. The key is printed alone on the last line of stdout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--scopes",
            nargs="+",
            choices=ApiKeyScope.values,
            default=list(ApiKeyScope.values),
            help="Scopes of the key (default: all).",
        )
        parser.add_argument("--expires", type=int, metavar="DAYS", help="Days until the key expires (default: never).")
        parser.add_argument("--name", default="created with manage.py create_api_key")

    def handle(self, *args, username: str, scopes: list[str], expires: int | None, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            api_key, secret = services.api_key_create(user=user, name=name, scopes=scopes, expires_in_days=expires)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        expiry = f", expires {api_key.expires_at:%Y-%m-%d}" if api_key.expires_at else ""
        self.stderr.write(
            f"Created key {api_key.prefix}… for {username} (scopes: {', '.join(api_key.scopes)}{expiry})."
        )
        self.stdout.write(secret)
