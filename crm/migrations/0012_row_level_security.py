"""Row-level security on every table with an organization_id (crm.rls): the app role
(settings.KITH_DB_APP_ROLE, LOGIN NOSUPERUSER NOBYPASSRLS), its grants and default privileges,
and the tenant and owner policies. `migrate` runs the same idempotent step afterwards
(crm.rls.on_post_migrate), so tables of later migrations are covered too."""

from django.db import migrations

UNDO = """
DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relrowsecurity
  LOOP
    EXECUTE format('DROP POLICY IF EXISTS kith_tenant ON %s', t.name);
    EXECUTE format('DROP POLICY IF EXISTS kith_owner ON %s', t.name);
    EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY', t.name);
  END LOOP;
END $$;
DROP FUNCTION IF EXISTS kith_user_organization(bigint);
"""


def forwards(apps, schema_editor):
    from crm import rls

    rls.apply_schema(schema_editor.connection)


def backwards(apps, schema_editor):
    schema_editor.execute(UNDO)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0011_two_factor"),
        ("contacts", "0018_contact_history_triggers"),
        ("companies", "0008_company_score_trigger"),
        ("activities", "0004_activity_score_triggers"),
        ("messaging", "0005_message_send_started_at"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
