from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from contacts import enrichment
        from contacts.signals import contact_erasing

        contact_erasing.connect(enrichment.forget, dispatch_uid="contacts.enrichment.forget")
