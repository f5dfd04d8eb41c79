from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector first: every later documents migration stores embeddings."""

    dependencies = []

    operations = [VectorExtension()]
