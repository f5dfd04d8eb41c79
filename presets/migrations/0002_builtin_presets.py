"""The four SmartTextGen modes as built-in presets (general, recommendation, support, ecommerce)."""

from django.db import migrations

from presets.builtins import create_builtins


def forwards(apps, schema_editor) -> None:
    create_builtins(apps.get_model("presets", "Preset"), apps.get_model("presets", "PresetRevision"))


def backwards(apps, schema_editor) -> None:
    apps.get_model("presets", "Preset").objects.filter(builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("presets", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
