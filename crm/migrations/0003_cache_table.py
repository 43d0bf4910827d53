from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The database cache (throttles, locks) when REDIS_URL is not set: created by `migrate`
    # itself, so every database that is migrated has it (no separate createcachetable step).
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_constraint_error_codes")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
