"""Webhook payloads leave out what is encrypted at rest (sensitive custom fields, encrypted phone
numbers and their blind-index hashes), and a change of the computed lead score or of the
enrichment bookkeeping alone is not an event (the nightly rescore would otherwise send an update
for most contacts every night)."""

from django.db import migrations

TRIGGERS = {
    "contacts_contact": ("contact",
                         "embedding,search_vector,search_name,search_name_rev,phone_digits,dedupe_keys,"
                         "custom_fields_sealed,phone_sealed,mobile_sealed,phone_hash,mobile_hash",
                         "updated_at,display_name,company_name,last_activity_at,last_contacted_at,score,"
                         "enrichment,ai_insights",
                         "id,organization_id"),
    "companies_company": ("company", "embedding,search_vector,search_name,custom_fields_sealed",
                          "updated_at,enrichment", "id,organization_id"),
}
OLD = {
    "contacts_contact": ("contact", "embedding,search_vector,search_name,search_name_rev,phone_digits,dedupe_keys",
                         "updated_at,display_name,company_name,last_activity_at,last_contacted_at",
                         "id,organization_id"),
    "companies_company": ("company", "embedding,search_vector,search_name", "updated_at", "id,organization_id"),
}


def sql(triggers):
    return "\n".join(
        f"DROP TRIGGER IF EXISTS kith_webhook_event ON {table};"
        f"CREATE TRIGGER kith_webhook_event AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION kith_webhook_event({', '.join(repr(a) for a in args)});"
        for table, args in triggers.items())


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0009_encryption_settings"),
        ("contacts", "0018_contact_history_triggers"),
        ("companies", "0008_company_score_trigger"),
    ]

    operations = [migrations.RunSQL(sql(TRIGGERS), sql(OLD))]
