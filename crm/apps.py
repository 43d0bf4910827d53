from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Kith core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from celery.signals import task_postrun
        from django.db.models.signals import post_delete, post_save

        from activities.models import Activity
        from companies.models import Company
        from contacts.models import Contact
        from contacts.signals import contact_erasing
        from django.contrib.auth.signals import user_logged_in

        from crm import twofactor, webhooks

        user_logged_in.connect(twofactor.flag_enrolment, dispatch_uid="twofactor_flag_enrolment")

        for model in (Contact, Company, Activity):
            post_save.connect(webhooks.on_tracked_write, sender=model, dispatch_uid=f"webhooks_save_{model.__name__}")
            post_delete.connect(webhooks.on_tracked_write, sender=model,
                                dispatch_uid=f"webhooks_delete_{model.__name__}")
        task_postrun.connect(webhooks.after_task, dispatch_uid="webhooks_after_task", weak=False)
        contact_erasing.connect(webhooks.erase_contact, dispatch_uid="webhooks_erase_contact")

        # The admins of other apps (registered by the admin's autodiscovery, which runs first):
        # staff without permission on a model cannot probe its ids through the history page.
        from crm.admin_base import check_permission_before_lookup

        check_permission_before_lookup()
