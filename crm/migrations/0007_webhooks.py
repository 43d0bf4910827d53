"""Outbound webhooks: endpoints, the event outbox and the delivery log, and the triggers that
fill the outbox from every write to contacts, companies and activities (see crm/webhooks.py)."""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
import encrypted_fields.fields
import uuid
from django.conf import settings
from django.db import migrations, models


# One function for the three tables. Arguments: object type; columns never sent (derived
# search/embedding columns); columns whose change alone is not an event; the columns a hard
# delete keeps (ids only: a row deleted for good, e.g. by GDPR erasure, must leave no personal
# data behind in the outbox).
EVENT_FUNCTION = r"""
CREATE OR REPLACE FUNCTION kith_webhook_event() RETURNS trigger AS $$
DECLARE
    org_id bigint;
    hidden text[] := string_to_array(TG_ARGV[1], ',');
    quiet text[] := string_to_array(TG_ARGV[2], ',');
    kept text[] := string_to_array(TG_ARGV[3], ',');
    old_row jsonb;
    new_row jsonb;
    obj jsonb;
    changes jsonb;
    meta jsonb;
    action text;
    event_type text;
    new_event bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN org_id := OLD.organization_id; ELSE org_id := NEW.organization_id; END IF;
    -- Organizations without an active endpoint pay one index probe per row, nothing more.
    IF NOT EXISTS (SELECT 1 FROM crm_webhookendpoint e WHERE e.organization_id = org_id AND e.is_active) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        obj := to_jsonb(NEW) - hidden;
        action := 'created';
    ELSIF TG_OP = 'DELETE' THEN
        old_row := to_jsonb(OLD);
        IF old_row->>'deleted_at' IS NOT NULL THEN
            RETURN NULL;  -- announced when it went to the trash or was merged
        END IF;
        SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb) INTO obj
          FROM jsonb_each(old_row) WHERE key = ANY(kept);
        action := 'deleted';
    ELSE
        old_row := to_jsonb(OLD) - hidden;
        new_row := to_jsonb(NEW) - hidden;
        SELECT jsonb_object_agg(n.key, jsonb_build_object('old', o.value, 'new', n.value)) INTO changes
          FROM jsonb_each(new_row) n JOIN jsonb_each(old_row) o ON o.key = n.key
         WHERE n.value IS DISTINCT FROM o.value AND NOT (n.key = ANY(quiet));
        IF changes IS NULL THEN
            RETURN NULL;  -- only derived or automatic columns changed
        END IF;
        IF old_row->>'merged_into_id' IS NULL AND new_row->>'merged_into_id' IS NOT NULL THEN
            action := 'merged';
        ELSIF old_row->>'deleted_at' IS NULL AND new_row->>'deleted_at' IS NOT NULL THEN
            action := 'deleted';
        ELSIF old_row->>'deleted_at' IS NOT NULL AND new_row->>'deleted_at' IS NULL THEN
            action := 'restored';
        ELSE
            action := 'updated';
        END IF;
        obj := new_row;
    END IF;
    event_type := TG_ARGV[0] || '.' || action;
    IF NOT EXISTS (SELECT 1 FROM crm_webhookendpoint e
                    WHERE e.organization_id = org_id AND e.is_active AND event_type = ANY(e.event_types)) THEN
        RETURN NULL;
    END IF;
    -- Who and through what (the audit context of django-pghistory: web, api, import, ...).
    BEGIN
        meta := nullif(current_setting('pghistory.context_metadata', true), '')::jsonb;
    EXCEPTION WHEN OTHERS THEN
        meta := NULL;
    END;
    INSERT INTO crm_webhookevent (organization_id, event_id, type, object_type, object_id, payload, created_at)
    VALUES (org_id, gen_random_uuid(), event_type, TG_ARGV[0], (obj->>'id')::bigint,
            jsonb_build_object('object', obj, 'changes', changes,
                               'context', jsonb_strip_nulls(jsonb_build_object('source', meta->'source',
                                                                               'user', meta->'user'))),
            clock_timestamp())
    RETURNING id INTO new_event;
    INSERT INTO crm_webhookdelivery (organization_id, endpoint_id, event_id, status, manual, attempts,
                                     next_attempt_at, response_excerpt, error, created_at, updated_at)
    SELECT org_id, e.id, new_event, 'pending', false, 0, now(), '', '', now(), now()
      FROM crm_webhookendpoint e
     WHERE e.organization_id = org_id AND e.is_active AND event_type = ANY(e.event_types);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

TRIGGERS = {
    "contacts_contact": ("contact", "embedding,search_vector,search_name,search_name_rev,phone_digits,dedupe_keys",
                         "updated_at,display_name,company_name,last_activity_at,last_contacted_at",
                         "id,organization_id"),
    "companies_company": ("company", "embedding,search_vector,search_name", "updated_at", "id,organization_id"),
    "activities_activity": ("activity", "", "updated_at", "id,organization_id,contact_id,company_id,type"),
}

CREATE_TRIGGERS = "\n".join(
    f"CREATE TRIGGER kith_webhook_event AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
    f"EXECUTE FUNCTION kith_webhook_event({', '.join(repr(a) for a in args)});"
    for table, args in TRIGGERS.items())
DROP_TRIGGERS = "\n".join(f"DROP TRIGGER IF EXISTS kith_webhook_event ON {table};" for table in TRIGGERS)


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0006_jobitem_skipped'),
        # The triggers below are created on these apps' tables.
        ('contacts', '0013_embeddings'),
        ('companies', '0006_embeddings'),
        ('activities', '0003_notifications'),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('url', models.URLField(max_length=2000, verbose_name='URL')),
                ('description', models.CharField(blank=True, max_length=200)),
                ('secret', encrypted_fields.fields.EncryptedCharField(editable=False, max_length=100)),
                ('event_types', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('contact.created', 'contact.created'), ('contact.updated', 'contact.updated'), ('contact.deleted', 'contact.deleted'), ('contact.merged', 'contact.merged'), ('contact.restored', 'contact.restored'), ('company.created', 'company.created'), ('company.updated', 'company.updated'), ('company.deleted', 'company.deleted'), ('company.merged', 'company.merged'), ('company.restored', 'company.restored'), ('activity.created', 'activity.created'), ('activity.updated', 'activity.updated'), ('activity.deleted', 'activity.deleted')], max_length=40), default=list, size=None)),
                ('is_active', models.BooleanField(default=True, verbose_name='active')),
                ('disabled_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('disabled_reason', models.CharField(blank=True, editable=False, max_length=300)),
                ('consecutive_failures', models.PositiveIntegerField(default=0, editable=False)),
                ('last_success_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('last_failure_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('created_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, to='crm.organization')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='WebhookEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('type', models.CharField(max_length=40)),
                ('object_type', models.CharField(max_length=20)),
                ('object_id', models.BigIntegerField()),
                ('payload', models.JSONField(default=dict)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='crm.organization')),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('manual', models.BooleanField(default=False, help_text='Sent again by hand (redeliver, test event).')),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('response_status', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('response_excerpt', models.CharField(blank=True, max_length=500)),
                ('error', models.CharField(blank=True, max_length=500)),
                ('duration_ms', models.PositiveIntegerField(blank=True, null=True)),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, to='crm.organization')),
                ('endpoint', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='crm.webhookendpoint')),
                ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='crm.webhookevent')),
            ],
            options={
                'verbose_name_plural': 'webhook deliveries',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='webhookendpoint',
            index=models.Index(fields=['organization', 'is_active'], name='webhook_endpoint_org_active'),
        ),
        migrations.AddIndex(
            model_name='webhookendpoint',
            index=models.Index(fields=['organization', '-created_at', '-id'], name='webhook_endpoint_list'),
        ),
        migrations.AddIndex(
            model_name='webhookevent',
            index=models.Index(fields=['object_type', 'object_id'], name='webhook_event_object'),
        ),
        migrations.AddIndex(
            model_name='webhookevent',
            index=models.Index(fields=['created_at'], name='webhook_event_created'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='webhook_delivery_due'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['endpoint', '-created_at', '-id'], name='webhook_delivery_log'),
        ),
        migrations.RunSQL(EVENT_FUNCTION, "DROP FUNCTION IF EXISTS kith_webhook_event();"),
        migrations.RunSQL(CREATE_TRIGGERS, DROP_TRIGGERS),
    ]
