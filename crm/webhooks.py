"""Outbound webhooks: endpoints, the event outbox, signing, delivery with retries.

Where events come from (the choice, and why)
--------------------------------------------
Every insert, update and delete of a contact, company or activity runs one PostgreSQL
trigger function, `kith_webhook_event()` (migration crm/0007_webhooks). When the row's
organization has an active endpoint subscribed to the event type, it writes a
`WebhookEvent` (the object as stored, `changes` old → new per column, the audit context's
source and user) and one pending `WebhookDelivery` per subscribed endpoint, in the writer's
own transaction.

- Any writer is caught, as for the audit trail (django-pghistory triggers): forms, API,
  inline edits, bulk edits (queryset.update), imports (COPY), merges and their undo, the trash
  and restore, raw SQL. App-level emits from services would miss the paths that bypass them.
- Reading pghistory's event tables instead was the other option. We did not take it: a cursor
  over their serial ids skips rows of transactions that commit out of id order (outbox
  readers must then rescan a window), activities are not audited, and the audit tables are
  scrubbed by erasure on their own schedule. A trigger writing the outbox row in the same
  transaction has none of these problems, and an organization without endpoints pays one
  index probe per written row.
- A hard delete (erasure, purge of the trash) sends ids only; rows that were in the trash or
  merged were announced then and send nothing more.

Event types: `<contact|company|activity>.<created|updated|deleted|merged|restored>`
(`deleted` = moved to the trash or deleted for good; `merged` = merged into `merged_into_id`;
`restored` = back from the trash or a merge undone). Imports and bulk edits write one event
per row; delivery is batched: one Celery task sends every due delivery in turn
(`deliver_due`), never a task per event.

Delivery: the task is queued when a transaction that saved a tracked row commits (Django
post_save/post_delete), after every other Celery task (imports, bulk edits), and by beat every
few seconds (retries that fell due, writers outside both). Requests never wait for it.
Deliveries are claimed with a lease (`next_attempt_at` moved ahead, SKIP LOCKED), so two
workers never send the same one and a worker that died leaves them to be retried.

Signing (Standard Webhooks / Stripe style): headers `Kith-Webhook-Id` (the event id),
`Kith-Webhook-Timestamp` (Unix seconds) and `Kith-Webhook-Signature: v1=<hex>`, the
HMAC-SHA256 of f"{timestamp}.{body}" keyed with the endpoint's secret. docs/webhooks.md shows
a receiver.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from crm.models import WEBHOOK_EVENT_TYPES, WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)

RETRY_WINDOW = timedelta(hours=72)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=12)
RETRYABLE_4XX = {408, 429}
SECRET_PREFIX = "whsec_"
USER_AGENT = "Kith-Webhooks/1"
TEST_EVENT = "webhook.test"
BATCH = 25  # deliveries claimed at a time
LEASE = timedelta(minutes=10)  # a claimed batch not finished by then is claimed again


# Settings -------------------------------------------------------------------------------------

def allow_private() -> bool:
    """Private/loopback targets are allowed outside production (KITH_WEBHOOK_ALLOW_PRIVATE)."""
    return getattr(settings, "KITH_WEBHOOK_ALLOW_PRIVATE", not settings.PRODUCTION)


def disable_after_failures() -> int:
    return getattr(settings, "KITH_WEBHOOK_DISABLE_AFTER_FAILURES", 100)


def timeouts() -> urllib3.Timeout:
    return urllib3.Timeout(connect=getattr(settings, "KITH_WEBHOOK_CONNECT_TIMEOUT", 3.0),
                           read=getattr(settings, "KITH_WEBHOOK_READ_TIMEOUT", 10.0))


# SSRF guard ------------------------------------------------------------------------------------

class BlockedAddress(ValueError):
    """The URL is not http(s), or its host is (or resolves to) an address we never call."""


def _forbidden(ip: ipaddress._BaseAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global)


def resolve(url: str) -> list[tuple[str, int]]:
    """The (address, port) pairs to call for `url`, checked: http(s) only, and in production
    mode no private, loopback, link-local, multicast, reserved or unspecified address.
    Raises BlockedAddress (wrong scheme, blocked address) or OSError (DNS failure)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedAddress("Use an http:// or https:// URL.")
    host = parts.hostname
    if not host:
        raise BlockedAddress("The URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedAddress("The URL's port is not valid.") from None
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = []
    for *_, sockaddr in infos:
        address = sockaddr[0].split("%", 1)[0]
        if not allow_private() and _forbidden(ipaddress.ip_address(address)):
            raise BlockedAddress(f"{host} is a private, loopback or reserved address; webhooks go to public "
                                 f"addresses only.")
        if (address, port) not in addresses:
            addresses.append((address, port))
    if not addresses:
        raise OSError(f"{host} has no address.")
    return addresses


def validate_url(url: str) -> None:
    """For forms and the API: a ValidationError naming `url`."""
    try:
        resolve(url)
    except BlockedAddress as exc:
        raise ValidationError({"url": str(exc)}) from None
    except (OSError, UnicodeError):
        if not allow_private():
            # Unknown names cannot be checked; refuse rather than find out at delivery time.
            raise ValidationError({"url": "This host name could not be resolved."}) from None


# Endpoints ------------------------------------------------------------------------------------

def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _clean_types(event_types) -> list[str]:
    chosen = [t for t in WEBHOOK_EVENT_TYPES if t in set(event_types or ())]
    unknown = sorted(set(event_types or ()) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        raise ValidationError({"event_types": f"Unknown event type(s): {', '.join(unknown)}."})
    if not chosen:
        raise ValidationError({"event_types": "Choose at least one event type."})
    return chosen


@transaction.atomic
def create_endpoint(*, organization_id: int, url: str, event_types, description: str = "", actor=None,
                    is_active: bool = True) -> WebhookEndpoint:
    validate_url(url)
    endpoint = WebhookEndpoint(organization_id=organization_id, url=url, description=description,
                               event_types=_clean_types(event_types), secret=new_secret(),
                               is_active=is_active, created_by=actor if getattr(actor, "pk", None) else None)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def update_endpoint(endpoint: WebhookEndpoint, *, data: dict) -> WebhookEndpoint:
    """`data`: any of url, description, event_types, is_active. Enabling a disabled endpoint
    clears its failure count; pending deliveries resume (those past 72 h then fail)."""
    if "url" in data and data["url"] != endpoint.url:
        validate_url(data["url"])
        endpoint.url = data["url"]
    if "description" in data:
        endpoint.description = data["description"]
    if "event_types" in data:
        endpoint.event_types = _clean_types(data["event_types"])
    if "is_active" in data and bool(data["is_active"]) != endpoint.is_active:
        endpoint.is_active = bool(data["is_active"])
        if endpoint.is_active:
            endpoint.disabled_at, endpoint.disabled_reason, endpoint.consecutive_failures = None, "", 0
            # Events that waited past their 72 hours are given up, not sent late.
            endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING,
                                       created_at__lt=timezone.now() - RETRY_WINDOW).update(
                status=WebhookDelivery.Status.FAILED, next_attempt_at=None, updated_at=timezone.now(),
                error="Expired: the endpoint was disabled for more than 72 hours.")
        else:
            endpoint.disabled_at, endpoint.disabled_reason = timezone.now(), "Disabled by an admin."
    endpoint.full_clean()
    endpoint.save()
    if endpoint.is_active:
        kick()
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint.secret


@transaction.atomic
def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event again to its endpoint, now: a new row in the log."""
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        raise ValidationError("Enable the endpoint before sending events to it again.")
    again = WebhookDelivery.objects.create(organization_id=endpoint.organization_id, endpoint=endpoint,
                                           event_id=delivery.event_id, manual=True, next_attempt_at=timezone.now())
    kick()
    return again


@transaction.atomic
def send_test_event(endpoint: WebhookEndpoint) -> WebhookDelivery:
    if not endpoint.is_active:
        raise ValidationError("Enable the endpoint before sending events to it.")
    event = WebhookEvent.objects.create(
        organization_id=endpoint.organization_id, type=TEST_EVENT, object_type="endpoint", object_id=endpoint.pk,
        payload={"object": {"id": endpoint.pk, "url": endpoint.url}, "changes": None, "context": {"source": "test"}})
    delivery = WebhookDelivery.objects.create(organization_id=endpoint.organization_id, endpoint=endpoint,
                                              event=event, manual=True, next_attempt_at=timezone.now())
    kick()
    return delivery


# Signing --------------------------------------------------------------------------------------

def body_of(event: WebhookEvent) -> bytes:
    data = event.payload or {}
    return json.dumps({
        "id": str(event.event_id),
        "type": event.type,
        "created_at": event.created_at.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z"),
        "organization_id": event.organization_id,
        "data": {"object_type": event.object_type, "object_id": event.object_id,
                 "object": data.get("object"), "changes": data.get("changes")},
        "context": data.get("context") or {},
    }, separators=(",", ":"), sort_keys=True, default=str).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(endpoint: WebhookEndpoint, event: WebhookEvent, body: bytes, timestamp: int | None = None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Kith-Webhook-Id": str(event.event_id),
        "Kith-Webhook-Timestamp": str(timestamp),
        "Kith-Webhook-Signature": signature(endpoint.secret, timestamp, body),
    }


# Retry schedule -------------------------------------------------------------------------------

def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … doubling, at most 12 h."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def next_attempt(created_at: datetime, attempts: int, now: datetime, retry_after: timedelta | None = None):
    """When to try again after `attempts` failures, or None when the 72 h are over. The last
    try is at the end of the window; `Retry-After` is honoured (never earlier than asked)."""
    deadline = created_at + RETRY_WINDOW
    if now >= deadline:
        return None
    wait = backoff(attempts)
    if retry_after is not None and retry_after > wait:
        wait = retry_after
    return min(now + wait, deadline)


def schedule(created_at: datetime) -> list[datetime]:
    """Every attempt time of a delivery that always fails right away (docs and tests)."""
    times, now, attempts = [created_at], created_at, 0
    while True:
        attempts += 1
        now = next_attempt(created_at, attempts, now)
        if now is None:
            return times
        times.append(now)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt_timezone.utc)
    return max(when - now, timedelta(0))


# Sending --------------------------------------------------------------------------------------

@dataclass
class Outcome:
    ok: bool
    retry: bool
    status: int | None = None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0
    retry_after: timedelta | None = None


def send(endpoint: WebhookEndpoint, event: WebhookEvent) -> Outcome:
    """One HTTP POST of `event` to `endpoint`. The host is resolved and checked again (DNS may
    have changed since registration) and the connection goes to the checked address (the Host
    header and TLS name stay the URL's), so a name that re-resolves meanwhile cannot redirect
    it. Redirects are not followed; timeouts are short."""
    started = time.monotonic()

    def done(**kwargs):
        return Outcome(duration_ms=int((time.monotonic() - started) * 1000), **kwargs)

    try:
        addresses = resolve(endpoint.url)
    except BlockedAddress as exc:
        return done(ok=False, retry=False, error=str(exc))
    except (OSError, UnicodeError) as exc:
        return done(ok=False, retry=True, error=f"DNS: {exc}"[:500])
    parts = urlsplit(endpoint.url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    body = body_of(event)
    headers = signed_headers(endpoint, event, body)
    headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
    last_error = ""
    for address, port in addresses:
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeouts(), retries=False, maxsize=1,
                                               server_hostname=parts.hostname, assert_hostname=parts.hostname)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeouts(), retries=False, maxsize=1)
        try:
            response = pool.urlopen("POST", path, body=body, headers=headers, redirect=False,
                                    preload_content=False, assert_same_host=False)
        except urllib3.exceptions.NewConnectionError as exc:
            last_error = f"Could not connect: {exc.__class__.__name__}"
            continue  # the next address of the name, if any
        except urllib3.exceptions.HTTPError as exc:
            reason = "Timed out" if isinstance(exc, (urllib3.exceptions.TimeoutError,)) else "HTTP error"
            return done(ok=False, retry=True, error=f"{reason}: {exc}"[:500])
        try:
            excerpt = response.read(2048, decode_content=True).decode("utf-8", "replace")[:500]
        except urllib3.exceptions.HTTPError:
            excerpt = ""
        finally:
            response.release_conn()
            pool.close()
        status = response.status
        if 200 <= status < 300:
            return done(ok=True, retry=False, status=status, excerpt=excerpt)
        retry = status >= 500 or status in RETRYABLE_4XX
        error = ("Redirects are not followed; use the final URL." if 300 <= status < 400
                 else f"HTTP {status}" + ("" if retry else " (not retried)"))
        return done(ok=False, retry=retry, status=status, excerpt=excerpt, error=error,
                    retry_after=parse_retry_after(response.headers.get("Retry-After"), timezone.now()))
    return done(ok=False, retry=True, error=last_error[:500] or "Could not connect.")


# The delivery loop ----------------------------------------------------------------------------

def due_q(now) -> Q:
    return Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True)


def has_due() -> bool:
    return WebhookDelivery.objects.filter(due_q(timezone.now())).exists()


def _claim(limit: int) -> list[WebhookDelivery]:
    now = timezone.now()
    with transaction.atomic():
        rows = list(WebhookDelivery.objects.filter(due_q(now)).select_for_update(skip_locked=True, of=("self",))
                    .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
        WebhookDelivery.objects.filter(pk__in=rows).update(next_attempt_at=now + LEASE)
    return list(WebhookDelivery.objects.filter(pk__in=rows).select_related("endpoint", "event")
                .order_by("event_id", "id"))


def deliver_due(*, budget_seconds: float = 50.0, limit: int = BATCH) -> int:
    """Send deliveries that are due, a batch at a time, until none is left or the budget is
    spent; returns how many were attempted. An endpoint that fails (timeout, 5xx) is not
    called again in the same run: its other claimed deliveries wait for its next retry."""
    started, attempted = time.monotonic(), 0
    while time.monotonic() - started < budget_seconds:
        batch = _claim(limit)
        if not batch:
            break
        resting: dict[int, datetime] = {}  # endpoint -> when its deliveries may be tried again
        for delivery in batch:
            if delivery.endpoint_id in resting:
                WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=resting[delivery.endpoint_id])
                continue
            endpoint = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).first()
            if endpoint is None:
                continue  # deleted meanwhile, with its deliveries
            if not endpoint.is_active:  # disabled meanwhile (by an admin, or by this batch)
                WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
                continue
            delivery.endpoint = endpoint
            outcome = send(endpoint, delivery.event)
            attempted += 1
            try:
                when = record(delivery, outcome)
            except WebhookEndpoint.DoesNotExist:
                continue  # deleted while we were sending
            if not outcome.ok and outcome.retry and when is not None:
                resting[delivery.endpoint_id] = when
    return attempted


@transaction.atomic
def record(delivery: WebhookDelivery, outcome: Outcome, now=None):
    """Store one attempt's result; schedule the retry, give up, or disable the endpoint.
    Returns the next attempt time (None when done)."""
    now = now or timezone.now()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = outcome.status
    delivery.response_excerpt = outcome.excerpt
    delivery.error = outcome.error
    delivery.duration_ms = outcome.duration_ms
    when = None
    if outcome.ok:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.next_attempt_at = None
        endpoint.consecutive_failures, endpoint.last_success_at = 0, now
    else:
        endpoint.consecutive_failures += 1
        endpoint.last_failure_at = now
        if outcome.retry:
            when = next_attempt(delivery.created_at, delivery.attempts, now, outcome.retry_after)
        if when is None:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = when
        if outcome.retry and when is None:
            _disable(endpoint, now, "An event could not be delivered for 72 hours.", outcome.error)
        elif endpoint.consecutive_failures >= disable_after_failures():
            _disable(endpoint, now, f"{endpoint.consecutive_failures} deliveries in a row failed.", outcome.error)
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "last_attempt_at", "response_status",
                                 "response_excerpt", "error", "duration_ms", "updated_at"])
    endpoint.save(update_fields=["consecutive_failures", "last_success_at", "last_failure_at", "is_active",
                                 "disabled_at", "disabled_reason", "updated_at"])
    return when


def _disable(endpoint: WebhookEndpoint, now, reason: str, last_error: str) -> None:
    """Stop sending to a failing endpoint and tell the organization's admins."""
    if not endpoint.is_active:
        return
    from activities.notifications import notify
    from crm.models import Membership
    from crm.permissions import Role

    endpoint.is_active, endpoint.disabled_at = False, now
    endpoint.disabled_reason = f"Disabled automatically: {reason} Last error: {last_error or '—'}"[:300]
    url = reverse("settings_webhook", args=[endpoint.pk])
    admins = Membership.objects.filter(organization_id=endpoint.organization_id, role=Role.ADMIN,
                                       user__is_active=True).values_list("user_id", flat=True)
    for user_id in admins:
        notify(user_id, "other", f"Webhook endpoint {endpoint.url} was disabled after repeated failures.", url,
               endpoint.organization_id, key=f"webhook_disabled:{endpoint.pk}:{int(now.timestamp())}")
    log.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


# Queueing -------------------------------------------------------------------------------------

def _queue_if_due() -> None:
    try:
        if has_due():
            from crm.tasks import deliver_webhooks

            deliver_webhooks.delay()
    except Exception:  # the broker being down must not break the request that committed
        log.exception("could not queue webhook deliveries (beat will pick them up)")


def kick() -> None:
    """After this transaction commits, queue the delivery task if anything is due (once per
    transaction however many rows were saved)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(func is _queue_if_due for _, func, _ in connection.run_on_commit):
        return
    transaction.on_commit(_queue_if_due)


def on_tracked_write(sender, **kwargs) -> None:
    """post_save/post_delete of contacts, companies, activities: their triggers may have queued
    deliveries."""
    kick()


def after_task(sender=None, **kwargs) -> None:
    """Celery task_postrun: imports and bulk edits write without post_save."""
    if getattr(sender, "name", "") != "crm.tasks.deliver_webhooks":
        _queue_if_due()


# Retention ------------------------------------------------------------------------------------

def retention_days() -> int:
    return getattr(settings, "KITH_WEBHOOK_RETENTION_DAYS", 30)


def purge_old_events(now=None, batch: int = 5000) -> int:
    """Beat: events older than the retention (default 30 days) with no delivery still pending
    go, with their delivery log (the payloads hold people's data; the log is for recent
    troubleshooting). Returns how many events were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=retention_days())
    pending = WebhookDelivery.objects.filter(event_id=OuterRef("pk"), status=WebhookDelivery.Status.PENDING)
    total = 0
    while True:
        ids = list(WebhookEvent.objects.filter(created_at__lt=cutoff).filter(~Exists(pending))
                   .order_by("id").values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        WebhookEvent.objects.filter(pk__in=ids).delete()
        total += len(ids)


# Erasure --------------------------------------------------------------------------------------

def erase_contact(sender, contact, **kwargs) -> int:
    """contacts.signals.contact_erasing: delete the contact's events (their payloads hold the
    person's data) with their deliveries: the contact's own, those of records merged into it
    (the same person), and their activities'. Returns how many rows were deleted."""
    from contacts.models import Contact

    merged = set(Contact.all_objects.filter(merged_into_id=contact.pk).values_list("pk", flat=True))
    merged |= set(WebhookEvent.objects.filter(organization_id=contact.organization_id, object_type="contact",
                                              payload__object__merged_into_id=contact.pk)
                  .values_list("object_id", flat=True))
    people = [contact.pk, *merged]
    activities = Q()
    for pk in people:
        activities |= Q(payload__object__contact_id=pk) | Q(payload__changes__contact_id__old=pk)
    rows = WebhookEvent.objects.filter(
        Q(object_type="contact", object_id__in=people) | (Q(object_type="activity") & activities),
        organization_id=contact.organization_id)
    deleted, _ = rows.delete()
    return deleted
