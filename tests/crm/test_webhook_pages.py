"""Webhook settings pages and API: org admins only (others: 404 on pages, 403 on the API),
another organization's endpoints are a 404, bad input names its field, the delivery log pages by
keyset with a fixed number of queries, redeliver."""

from __future__ import annotations

import pytest
from django.utils import timezone

from contacts.services import create_contact
from crm import webhooks
from crm.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db

TYPES = ["contact.created", "contact.updated"]


@pytest.fixture
def endpoint(world):
    return webhooks.create_endpoint(organization_id=world.org.pk, url="http://127.0.0.1:9/hook",
                                    event_types=TYPES, description="Data warehouse", actor=world.admin)


@pytest.fixture
def theirs(world):
    return webhooks.create_endpoint(organization_id=world.other_org.pk, url="http://127.0.0.1:9/globex",
                                    event_types=TYPES, actor=world.charlie)


def make_deliveries(world, n):
    for i in range(n):
        create_contact(organization=world.org, data={"first_name": f"P{i}", "email": f"p{i}@example.com"},
                       actor=world.admin)


def test_admin_creates_an_endpoint_and_sees_the_secret_once(client, world):
    client.force_login(world.admin)
    assert client.get("/settings/webhooks/").status_code == 200
    form = client.get("/settings/webhooks/new/")
    assert 'value="contact.merged"' in form.content.decode()
    response = client.post("/settings/webhooks/new/", {"url": "https://hooks.example.com/kith",
                                                       "description": "CRM sync", "event_types": TYPES,
                                                       "is_active": "on"})
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/settings/webhooks/{endpoint.pk}/"
    assert endpoint.organization == world.org and endpoint.event_types == TYPES
    first = client.get(response["Location"]).content.decode()
    assert endpoint.secret in first
    second = client.get(response["Location"]).content.decode()
    assert endpoint.secret not in second and "Reveal" in second
    assert endpoint.secret in client.get(f"{response['Location']}?reveal=1").content.decode()
    assert "hooks.example.com" in client.get("/settings/webhooks/").content.decode()


@pytest.mark.parametrize("url, message", [
    ("ftp://example.com/x", "http"), ("not a url", "http"), ("http://10.0.0.1/hook", "private")])
def test_bad_urls_are_errors_on_the_url_field(client, world, settings, url, message):
    settings.KITH_WEBHOOK_ALLOW_PRIVATE = False
    client.force_login(world.admin)
    response = client.post("/settings/webhooks/new/", {"url": url, "event_types": TYPES})
    assert response.status_code == 400
    page = response.content.decode()
    block = page.split('name="url"')[1].split('<div class="field')[0]
    assert message in block
    assert not WebhookEndpoint.objects.exists()


def test_no_event_type_is_an_error(client, world):
    client.force_login(world.admin)
    response = client.post("/settings/webhooks/new/", {"url": "https://hooks.example.com/"})
    assert response.status_code == 400 and not WebhookEndpoint.objects.exists()


def test_edit_disable_and_delete(client, world, endpoint):
    client.force_login(world.admin)
    response = client.post(f"/settings/webhooks/{endpoint.pk}/edit/", {
        "url": "https://hooks.example.com/v2", "description": "", "event_types": ["contact.updated"]})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/v2" and not endpoint.is_active
    page = client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert 'id="webhook-disabled"' in page and "Disabled by an admin." in page
    assert client.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_detail_shows_the_log_by_keyset_pages_in_constant_queries(client, world, endpoint,
                                                                  django_assert_max_num_queries):
    make_deliveries(world, 30)
    WebhookDelivery.objects.filter(pk=WebhookDelivery.objects.order_by("id").first().pk).update(
        status="failed", response_status=500, error="HTTP 500", attempts=3)
    client.force_login(world.admin)
    with django_assert_max_num_queries(12):
        first = client.get(f"/settings/webhooks/{endpoint.pk}/")
    page = first.content.decode()
    assert page.count("contact.created</code>") == 25 and 'rel="next"' in page
    cursor = page.split('rel="next" href="?cursor=')[1].split('"')[0]
    with django_assert_max_num_queries(12):
        second = client.get(f"/settings/webhooks/{endpoint.pk}/?cursor={cursor}")
    assert second.content.decode().count("contact.created</code>") == 5
    assert "HTTP 500" in second.content.decode()
    assert client.get(f"/settings/webhooks/{endpoint.pk}/?cursor=forged").status_code == 400


def test_redeliver_and_test_buttons(client, world, endpoint):
    make_deliveries(world, 1)
    delivery = WebhookDelivery.objects.get()
    client.force_login(world.admin)
    response = client.post(f"/settings/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(event=delivery.event, manual=True).count() == 1
    assert client.post(f"/settings/webhooks/{endpoint.pk}/test/").status_code == 302
    assert WebhookEvent.objects.filter(type="webhook.test").count() == 1
    old_secret = endpoint.secret
    assert client.post(f"/settings/webhooks/{endpoint.pk}/rotate-secret/").status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old_secret


def test_disabled_endpoint_page_shows_the_notice(client, world, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_at=timezone.now(),
        disabled_reason="Disabled automatically: 100 deliveries in a row failed. Last error: HTTP 500")
    client.force_login(world.admin)
    page = client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert "100 deliveries in a row failed" in page


@pytest.mark.parametrize("who", ["manager_a", "alice", "rita", "viewer_a", "other_rep"])
def test_pages_are_404_for_everyone_but_the_organizations_admins(client, world, endpoint, who):
    make_deliveries(world, 1)
    delivery = WebhookDelivery.objects.get()
    client.force_login(getattr(world, who))
    base = f"/settings/webhooks/{endpoint.pk}/"
    for url in ["/settings/webhooks/", "/settings/webhooks/new/", base, f"{base}edit/", f"{base}?reveal=1"]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert endpoint.secret not in response.content.decode()
    for url in [f"{base}edit/", f"{base}delete/", f"{base}test/", f"{base}rotate-secret/",
                f"{base}deliveries/{delivery.pk}/redeliver/"]:
        assert client.post(url, {"url": "https://x.example.com/", "event_types": TYPES}).status_code == 404, url
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk, url="http://127.0.0.1:9/hook").exists()
    assert WebhookDelivery.objects.count() == 1


def test_another_organizations_admin_sees_only_their_own(client, world, endpoint, theirs):
    client.force_login(world.charlie)
    listing = client.get("/settings/webhooks/").content.decode()
    assert "127.0.0.1:9/globex" in listing and "127.0.0.1:9/hook" not in listing
    assert client.get(f"/settings/webhooks/{endpoint.pk}/").status_code == 404
    assert client.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


# API

def test_api_crud(client, world):
    client.force_login(world.admin)
    created = client.post("/api/webhooks/", {"url": "https://hooks.example.com/kith", "event_types": TYPES,
                                             "description": "Sync"}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["event_types"] == TYPES and body["is_active"] is True
    listed = client.get("/api/webhooks/").json()
    assert [row["id"] for row in listed["results"]] == [endpoint.pk] and listed["results"][0]["secret"] is None
    assert client.get(f"/api/webhooks/{endpoint.pk}/secret/").json() == {"secret": endpoint.secret}
    patched = client.patch(f"/api/webhooks/{endpoint.pk}/", {"is_active": False, "event_types": ["contact.deleted"]},
                           content_type="application/json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert patched.json()["disabled_reason"] == "Disabled by an admin."
    rotated = client.post(f"/api/webhooks/{endpoint.pk}/rotate-secret/").json()["secret"]
    endpoint.refresh_from_db()
    assert rotated == endpoint.secret
    assert client.delete(f"/api/webhooks/{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://example.com/", "event_types": TYPES}, "url"),
    ({"url": "http://169.254.169.254/latest/", "event_types": TYPES}, "url"),
    ({"url": "http://[::1]:8000/", "event_types": TYPES}, "url"),
    ({"url": "https://hooks.example.com/", "event_types": []}, "event_types"),
    ({"url": "https://hooks.example.com/", "event_types": ["contact.exploded"]}, "event_types"),
    ({"url": "https://hooks.example.com/", "event_types": TYPES, "secret": "mine"}, "secret"),
])
def test_api_bad_input_names_the_field(client, world, settings, body, field):
    settings.KITH_WEBHOOK_ALLOW_PRIVATE = False
    client.force_login(world.admin)
    response = client.post("/api/webhooks/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not WebhookEndpoint.objects.exists()


def test_api_deliveries_and_redeliver(client, world, endpoint, django_assert_max_num_queries):
    make_deliveries(world, 7)
    client.force_login(world.admin)
    with django_assert_max_num_queries(11):
        first = client.get(f"/api/webhooks/{endpoint.pk}/deliveries/?page_size=5").json()
    assert len(first["results"]) == 5 and first["next"]
    assert first["results"][0]["event"]["type"] == "contact.created"
    with django_assert_max_num_queries(11):
        second = client.get(first["next"]).json()
    assert len(second["results"]) == 2 and not second["next"]
    delivery = WebhookDelivery.objects.order_by("id").first()
    response = client.post(f"/api/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202 and response.json()["manual"] is True
    assert client.post(f"/api/webhooks/{endpoint.pk}/test/").status_code == 202
    assert client.get(f"/api/webhooks/{endpoint.pk}/deliveries/?bogus=1").status_code == 400


@pytest.mark.parametrize("who", ["manager_a", "alice", "rita", "viewer_a"])
def test_api_is_403_for_members_who_are_not_admins(client, world, endpoint, who):
    make_deliveries(world, 1)
    delivery = WebhookDelivery.objects.get()
    client.force_login(getattr(world, who))
    base = f"/api/webhooks/{endpoint.pk}/"
    assert client.post("/api/webhooks/", {"url": "https://x.example.com/", "event_types": TYPES},
                       content_type="application/json").status_code == 403
    assert client.patch(base, {"description": "mine"}, content_type="application/json").status_code == 403
    assert client.delete(base).status_code == 403
    assert client.post(f"{base}deliveries/{delivery.pk}/redeliver/").status_code == 403
    assert client.post(f"{base}rotate-secret/").status_code == 403
    for url in ["/api/webhooks/", base, f"{base}secret/", f"{base}deliveries/"]:
        response = client.get(url)
        assert response.status_code == 403 and endpoint.secret not in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.description == "Data warehouse" and WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("who", ["charlie", "other_rep"])
def test_api_other_organization(client, world, endpoint, theirs, who):
    make_deliveries(world, 1)
    delivery = WebhookDelivery.objects.get()
    client.force_login(getattr(world, who))
    base = f"/api/webhooks/{endpoint.pk}/"
    if who == "other_rep":  # not an admin there either
        assert client.get(base).status_code == 403
        return
    assert [row["id"] for row in client.get("/api/webhooks/").json()["results"]] == [theirs.pk]
    for url in [base, f"{base}secret/", f"{base}deliveries/"]:
        assert client.get(url).status_code == 404, url
    assert client.patch(base, {"description": "x"}, content_type="application/json").status_code == 404
    assert client.delete(base).status_code == 404
    assert client.post(f"{base}deliveries/{delivery.pk}/redeliver/").status_code == 404
    # Their endpoint with our delivery id: not found either.
    assert client.post(f"/api/webhooks/{theirs.pk}/deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_api_list_in_constant_queries(client, world, django_assert_max_num_queries):
    for i in range(5):
        webhooks.create_endpoint(organization_id=world.org.pk, url=f"http://127.0.0.1:9/h{i}", event_types=TYPES)
    client.force_login(world.admin)
    with django_assert_max_num_queries(10):
        rows = client.get("/api/webhooks/?page_size=2").json()
    assert len(rows["results"]) == 2 and rows["next"]
    with django_assert_max_num_queries(10):
        rows = client.get("/api/webhooks/?page_size=5").json()
    assert len(rows["results"]) == 5
