"""Sign-in, home page, logout and password reset, as a browser would use them."""

import re

import pytest
from django.core import mail

from contacts.models import Contact
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body and "Forgot" in body


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_sign_in_with_email_shows_the_organization(client, world):
    Contact.objects.create(organization=world.org, first_name="Visible", last_name="Lead", owner=world.alice)
    Contact.objects.create(organization=world.org, first_name="Hidden", last_name="Other", owner=world.bob)
    response = client.post("/login/", {"username": "ALICE@acme.test", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Acme Sales" in body
    assert "Visible Lead" in body and "Hidden Other" not in body
    assert "Globex" not in body


def test_wrong_password_is_a_clear_error(client, world):
    response = client.post("/login/", {"username": "alice@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct email address and password." in response.content.decode()


def test_home_for_org_admin_links_to_admin(client, world):
    client.force_login(world.admin)
    body = client.get("/").content.decode()
    assert "Acme Sales" in body and "/admin/" in body


def test_home_query_count_is_bounded(client, world, django_assert_max_num_queries):
    for i in range(20):
        Contact.objects.create(organization=world.org, first_name=f"C{i}", owner=world.alice)
    client.force_login(world.alice)
    with django_assert_max_num_queries(10):
        assert client.get("/").status_code == 200


def test_home_for_user_without_organization(client, db):
    from crm.models import User

    user = User.objects.create_superuser("platform@kith.test", PASSWORD)
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200


def test_logout_is_a_post(client, world):
    client.force_login(world.alice)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_password_reset_by_email(client, world):
    response = client.post("/password-reset/", {"email": "alice@acme.test"}, follow=True)
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@acme.test"]
    link = re.search(r"http://testserver(/reset/[^\s]+/)", message.body).group(1)
    page = client.get(link, follow=True)
    assert page.status_code == 200
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    done = client.post(form_url, {"new_password1": "a-brand-new-pass-42", "new_password2": "a-brand-new-pass-42"},
                       follow=True)
    assert done.status_code == 200
    assert client.login(username="alice@acme.test", password="a-brand-new-pass-42")


def test_password_reset_for_unknown_email_reveals_nothing(client, db):
    response = client.post("/password-reset/", {"email": "nobody@nowhere.test"}, follow=True)
    assert response.status_code == 200
    assert len(mail.outbox) == 0


def test_unknown_page_is_a_styled_404(client, world):
    client.force_login(world.alice)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Kith" in response.content.decode()


def test_healthz(client, db):
    # Without a worker heartbeat the health is degraded but still 200 (tests/crm/test_health.py).
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] in {"ok", "degraded"}
