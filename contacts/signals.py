"""Signals of the contacts domain.

`contact_erasing(sender=Contact, contact=..., organization=...)` is sent inside the erasure
transaction (GDPR right to erasure), before the contact is deleted for good. Every module that
keeps the person's data outside the contact's own foreign keys (webhook deliveries, enrichment
caches, …) connects a receiver that deletes or scrubs those rows, so nothing survives the
erasure."""

from django.dispatch import Signal

contact_erasing = Signal()
