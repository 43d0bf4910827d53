"""The contact form warns before saving a likely duplicate: the matches with links and reasons,
nothing saved, and "Save anyway" saves; an edit that changes no compared field does not warn."""

from __future__ import annotations

import pytest
from django.test import Client

from contacts.models import Contact
from contacts.services import create_contact
from tests.conftest import fresh


def client_for(user):
    client = Client()
    client.force_login(fresh(user))
    return client


def form_data(**values):
    return {"first_name": "", "last_name": "", "lifecycle_stage": "lead", "score": "0",
            "preferred_contact_time": "any", **values}


@pytest.mark.django_db
def test_create_warns_then_saves_anyway(world):
    bob = create_contact(organization=world.org, data={"first_name": "Robert", "last_name": "Smith",
                                                       "email": "robert.smith@gmail.com", "owner": world.alice})
    client = client_for(world.alice)
    data = form_data(first_name="Bob", last_name="Smith", email="robertsmith+crm@gmail.com", owner=world.alice.pk)
    before = Contact.objects.count()
    response = client.post("/contacts/new/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "This may be a contact you already have" in html
    assert f'href="/contacts/{bob.pk}/"' in html
    assert "same email, same name, nickname Bob = Robert" in html
    assert 'name="save_anyway"' in html
    assert Contact.objects.count() == before
    response = client.post("/contacts/new/", {**data, "save_anyway": "1"})
    assert response.status_code == 302
    assert Contact.objects.count() == before + 1


@pytest.mark.django_db
def test_no_warning_for_a_new_person_or_an_invisible_match(world):
    create_contact(organization=world.org, data={"first_name": "Robert", "last_name": "Smith",
                                                 "email": "robert.smith@gmail.com", "owner": world.rita})
    client = client_for(world.alice)
    # rita's contact is not alice's to see: no warning that would reveal it
    response = client.post("/contacts/new/", form_data(first_name="Bob", last_name="Smith",
                                                       email="robertsmith+crm@gmail.com", owner=world.alice.pk))
    assert response.status_code == 302
    response = client.post("/contacts/new/", form_data(first_name="Zed", last_name="Quill", owner=world.alice.pk))
    assert response.status_code == 302


@pytest.mark.django_db
def test_edit_warns_only_when_compared_fields_change(world):
    create_contact(organization=world.org, data={"first_name": "Ann", "last_name": "Lee",
                                                 "phone": "+14155550101", "owner": world.alice})
    other = create_contact(organization=world.org, data={"first_name": "Anne", "last_name": "Lee",
                                                         "owner": world.alice})
    client = client_for(world.alice)
    url = f"/contacts/{other.pk}/edit/"
    assert client.post(url, form_data(first_name="Anne", last_name="Lee", job_title="CTO",
                                      owner=world.alice.pk)).status_code == 302
    response = client.post(url, form_data(first_name="Anne", last_name="Lee", mobile="+14155550101",
                                          owner=world.alice.pk))
    assert response.status_code == 200 and "This may be a contact you already have" in response.content.decode()
    other.refresh_from_db()
    assert not other.mobile
    assert client.post(url, form_data(first_name="Anne", last_name="Lee", mobile="+14155550101",
                                      owner=world.alice.pk, save_anyway="1")).status_code == 302
    other.refresh_from_db()
    assert str(other.mobile) == "+14155550101"
