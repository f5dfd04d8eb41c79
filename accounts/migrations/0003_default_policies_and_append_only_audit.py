from django.db import migrations

# Starting limits per role; admins tune them in the admin site (Role policies).
DEFAULT_POLICIES = {
    "admin": dict(daily_token_budget=2_000_000, requests_per_minute=120, max_upload_mb=100, max_documents=5000),
    "moderator": dict(daily_token_budget=500_000, requests_per_minute=60, max_upload_mb=50, max_documents=1000),
    "member": dict(daily_token_budget=200_000, requests_per_minute=30, max_upload_mb=25, max_documents=500),
    "viewer": dict(daily_token_budget=50_000, requests_per_minute=20, max_upload_mb=0, max_documents=0),
}

# Rows can be added, never changed or removed one by one. TRUNCATE (a whole-database reset such as `manage.py flush`,
# which needs the table owner's rights) stays possible for operators.
APPEND_ONLY = """
CREATE FUNCTION accounts_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditevent_no_update_or_delete
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER accounts_auditevent_no_update_or_delete ON accounts_auditevent;
DROP FUNCTION accounts_auditevent_append_only();
"""


def create_policies(apps, schema_editor):
    RolePolicy = apps.get_model("accounts", "RolePolicy")
    for role, limits in DEFAULT_POLICIES.items():
        RolePolicy.objects.get_or_create(
            role=role, defaults={**limits, "allowed_models": [], "web_access": role != "viewer"}
        )
    # Accounts made before roles existed: superusers become admins, staff moderators.
    User = apps.get_model("accounts", "User")
    User.objects.filter(is_superuser=True).update(role="admin")
    User.objects.filter(is_staff=True, is_superuser=False).update(role="moderator")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles_policies_keys_audit")]

    operations = [
        migrations.RunPython(create_policies, migrations.RunPython.noop),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
