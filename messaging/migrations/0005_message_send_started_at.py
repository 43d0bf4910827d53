from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0004_message_score_trigger"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="send_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(condition=models.Q(("provider_sid", ""), ("status", "queued")),
                               fields=["updated_at"], name="message_queued_idx"),
        ),
    ]
