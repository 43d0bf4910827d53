"""Celery app. Broker and options come from Django settings (CELERY_*)."""

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")


class KithTask(Task):
    """Default for our tasks: idempotent work, acknowledged after it finishes,
    retried with exponential backoff on errors that may pass (database or broker
    hiccups), and run inside an audit context naming the task."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = (ConnectionError, TimeoutError)
    retry_backoff = True
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 8
    # Row-level security (crm.rls): a beat task that works across organizations runs once per
    # organization on the app role; `organization_of` names the model whose pk is the first argument
    # (its organization goes into the headers of a task published outside any organization).
    per_organization = False
    organization_of = None

    def __call__(self, *args, **kwargs):
        import pghistory

        from crm import rls

        with pghistory.context(source="task", task=self.name):
            if self.per_organization and rls.enforced() and rls.current() is None:
                return rls.run_per_organization(lambda: super(KithTask, self).__call__(*args, **kwargs))
            return super().__call__(*args, **kwargs)


app = Celery("kith", task_cls=KithTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()



def _transient_db_errors():
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


KithTask.autoretry_for = KithTask.autoretry_for + _transient_db_errors()
