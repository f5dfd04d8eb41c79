from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user model, custom from the first migration so later fields need no model swap."""
