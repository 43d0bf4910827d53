"""Rows for the fuzzer's object routes: ids the rep can reach (read from the API's own lists) and another
organization's ids (which must answer 404)."""

from __future__ import annotations

from rest_framework.test import APIClient

from activities.models import Notification
from contacts.models import ImportMapping
from messaging.models import Message


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def seed_rows(world, book):
    """One row of each kind the book does not hold, made through the API where it takes a plain body."""
    rep, admin = client_for(world.alice), client_for(world.admin)
    bodies = [
        (rep, "/api/segments/", {"name": "Mine", "criteria": {}}),
        (rep, "/api/saved-views/", {"name": "Mine", "filters": {}}),
        (rep, "/api/sms-templates/", {"name": "Hi", "body": "Hello {first_name}"}),
        (rep, "/api/exports/", {"format": "csv", "columns": ["first_name"], "ids": [book.alice_own.pk]}),
        (rep, "/api/contacts/bulk/", {"action": "add_tags", "ids": [book.alice_own.pk], "tags": [book.vip.pk]}),
        (admin, "/api/form-layouts/", {"industry": "Retail", "custom_fields": []}),
        (admin, "/api/assignment-rules/", {"name": "Retail", "team": world.team_a.pk}),
        (admin, "/api/webhooks/", {"url": "https://hooks.example.com/kith", "event_types": ["contact.created"]}),
    ]
    for client, url, body in bodies:
        client.post(url, body, format="json")
    ImportMapping.objects.create(organization=world.org, name="Mine", columns={}, options={},
                                 created_by=world.alice)
    Notification.objects.create(organization=world.org, recipient=world.alice, kind=Notification.Kind.choices[0][0],
                                title="Call back")
    Message.objects.create(organization=world.org, contact=book.alice_own, to_number="+14155550100",
                           body="Hello", actor=world.alice)


def seed_ids(world, book, token) -> dict[str, list[int]]:
    seed_rows(world, book)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    schema = client.get("/api/schema/?format=json").json()
    resources = sorted({path.split("/")[2] for path in schema["paths"] if "{id}" in path})
    ids: dict[str, list[int]] = {}
    for resource in resources:
        response = client.get(f"/api/{resource}/", {"page_size": 5})
        rows = []
        if response.status_code == 200:
            body = response.json()
            rows = body.get("results", body) if isinstance(body, dict) else body
        ids[resource] = [row["id"] for row in rows if isinstance(row, dict) and "id" in row][:5]
    foreign = {"contacts": book.other_contact.pk, "companies": book.other_co.pk, "tags": book.other_tag.pk,
               "custom-fields": book.other_cf.pk, "contact-companies": book.other_link.pk,
               "relationships": book.other_rel.pk, "activities": book.other_call.pk,
               "members": world.other_rep.pk}
    for resource, pk in foreign.items():
        ids.setdefault(resource, []).append(pk)
    return ids
