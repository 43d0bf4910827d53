"""Settings of the Celery workers the fault tests start and kill: the project's settings, with
kombu's Redis transport looking for unacknowledged messages every second (the default is every
100 s), so a message whose worker was killed comes back soon after CELERY_VISIBILITY_TIMEOUT."""

from crm.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
