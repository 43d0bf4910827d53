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

# Work nobody is waiting for (enrichment, scoring, embeddings, recounts and purges) runs on a
# queue of its own, `<default queue>.background`, with its own worker (Procfile), so an import,
# export, bulk action, merge or SMS send someone started never waits behind a backlog of it.
BACKGROUND_TASKS = frozenset({
    "contacts.tasks.embed_pending", "contacts.tasks.run_embedding_backfill",
    "contacts.tasks.enrich_contact", "contacts.tasks.run_enrichment_job",
    "contacts.tasks.score_pending", "contacts.tasks.run_scoring_job", "contacts.tasks.nightly_rescore",
    "contacts.tasks.purge_expired_exports", "contacts.tasks.purge_privacy", "contacts.tasks.purge_trash",
    "crm.tasks.recount_tag_usage", "crm.tasks.recount_all_tag_usage", "crm.tasks.purge_webhook_events",
})


def background_queue() -> str:
    return f"{app.conf.task_default_queue}.background"


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router: background tasks to the background queue, the rest to the default queue."""
    if name in BACKGROUND_TASKS:
        return {"queue": background_queue()}
    return None


app.conf.task_routes = (route_task,)


def _transient_db_errors():
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


KithTask.autoretry_for = KithTask.autoretry_for + _transient_db_errors()


def _django_logging(**kwargs):
    """Workers and beat log through Django's LOGGING (format, request ids, masks), not Celery's own."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _start_heartbeat(**kwargs):
    from crm.health import start_worker_heartbeat

    start_worker_heartbeat()


def _connect_signals():
    from celery import signals

    from crm import logs

    signals.setup_logging.connect(_django_logging, weak=False)
    signals.before_task_publish.connect(logs.on_before_task_publish, weak=False, dispatch_uid="kith_request_id")
    signals.task_prerun.connect(logs.on_task_prerun, weak=False, dispatch_uid="kith_request_id_prerun")
    signals.task_postrun.connect(logs.on_task_postrun, weak=False, dispatch_uid="kith_request_id_postrun")
    signals.worker_ready.connect(_start_heartbeat, weak=False, dispatch_uid="kith_worker_heartbeat")


_connect_signals()
