from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Kith core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from celery.signals import before_task_publish, task_postrun, task_prerun
        from django.contrib.auth.signals import user_logged_in
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_delete, post_save, post_migrate

        from activities.models import Activity
        from companies.models import Company
        from contacts.models import Contact
        from contacts.signals import contact_erasing
        from crm import rls, twofactor, webhooks

        for model in (Contact, Company, Activity):
            post_save.connect(webhooks.on_tracked_write, sender=model, dispatch_uid=f"webhooks_save_{model.__name__}")
            post_delete.connect(webhooks.on_tracked_write, sender=model,
                                dispatch_uid=f"webhooks_delete_{model.__name__}")
        task_postrun.connect(webhooks.after_task, dispatch_uid="webhooks_after_task", weak=False)
        contact_erasing.connect(webhooks.erase_contact, dispatch_uid="webhooks_erase_contact")
        # Row-level security (crm.rls); the postrun reset after the webhooks' receiver, which still
        # publishes as the task's organization.
        before_task_publish.connect(rls.before_task_publish, dispatch_uid="rls_publish", weak=False)
        task_prerun.connect(rls.task_prerun, dispatch_uid="rls_prerun", weak=False)
        task_postrun.connect(rls.task_postrun, dispatch_uid="rls_postrun", weak=False)
        connection_created.connect(rls.on_connection_created, dispatch_uid="rls_connection")
        # The organization context first: the two-factor requirement reads the member's organization.
        user_logged_in.connect(rls.on_user_logged_in, dispatch_uid="rls_login")
        user_logged_in.connect(twofactor.flag_enrolment, dispatch_uid="twofactor_flag_enrolment")
        post_migrate.connect(rls.on_post_migrate, dispatch_uid="rls_post_migrate")

        # The admins of other apps (registered by the admin's autodiscovery, which runs first):
        # staff without permission on a model cannot probe its ids through the history page.
        from crm.admin_base import check_permission_before_lookup

        check_permission_before_lookup()
