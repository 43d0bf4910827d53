from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from activities.models import Activity
        from companies.models import Company
        from contacts.models import ConsentEvent, Contact, ContactCompany
        from messaging.models import Message

        # Triggers queue the contacts whose score inputs changed; these saves ask the worker to
        # rescore them after commit (debounced). Writers that bypass save() are picked up by beat.
        for model in (Activity, ConsentEvent, Contact, ContactCompany, Company, Message):
            post_save.connect(_schedule_scoring, sender=model, dispatch_uid=f"scoring-{model._meta.label}")
            post_delete.connect(_schedule_scoring, sender=model, dispatch_uid=f"scoring-del-{model._meta.label}")

        from contacts import enrichment, scoring
        from contacts.signals import contact_erasing

        # Data kept outside the contact's own cascade goes with a GDPR erasure.
        contact_erasing.connect(enrichment.forget, dispatch_uid="contacts.enrichment.forget")
        contact_erasing.connect(scoring.forget_contact, sender=Contact, dispatch_uid="scoring-erasure")


def _schedule_scoring(sender, **kwargs):
    from contacts import scoring

    scoring.schedule()
