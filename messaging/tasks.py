from __future__ import annotations

from celery import shared_task

MAX_RETRIES = 8


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES, organization_of="messaging.Message")
def send_message(self, message_id: int) -> str | None:
    """Send one queued SMS (messaging.services.deliver: idempotent, a sent message is never sent
    again). Retryable failures (429, 5xx, connection) retry with exponential backoff; after the
    last try the message is marked failed."""
    from messaging import services
    from messaging.backends import SendError, Throttled

    try:
        message = services.deliver(message_id)
    except Throttled as exc:
        # The sender's rate is used up: queued again for its next slot (not a failed attempt).
        services.enqueue(message_id, countdown=exc.wait)
        return "throttled"
    except SendError as exc:
        if self.request.retries >= self.max_retries:
            services.give_up(message_id, exc)
            return "failed"
        raise self.retry(exc=exc, countdown=services.backoff(self.request.retries))
    return message.status if message is not None else None


@shared_task(per_organization=True)
def send_due_messages() -> int:
    """Beat, every minute: scheduled messages whose time has come are queued for sending, and
    queued ones left without a sender (services.requeue_stale) are handed to the task again."""
    from messaging import services

    return len(services.release_due()) + len(services.requeue_stale())
