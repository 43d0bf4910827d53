"""Rows for the fuzzer's object routes: ids the rep can reach (from the API's own lists) and
another organization's ids (which must answer 404)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework.test import APIClient


def seed_ids(world, book, token) -> dict[str, list[int]]:
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
