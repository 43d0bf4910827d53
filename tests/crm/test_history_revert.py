"""Reverting one change from a contact's or company's history: pages and services."""

from __future__ import annotations

import pytest
from pghistory.models import Events

from companies.services import update_company
from contacts.models import Contact
from contacts.services import update_contact
from crm.audit import change_context, describe_history
from crm.history import EventNotFound, RevertConflict, revert_change
from tests.conftest import fresh
from tests.pages.conftest import alices_contact, body, company, make_contact  # noqa: F401


def last_update(obj):
    return next(e for e in Events.objects.tracks(obj).order_by("-pgh_id") if e.pgh_label == "update")


def edit(contact, actor, **data):
    with change_context(actor=actor, source="web"):
        update_contact(contact=contact, data=data, actor=actor)
    return last_update(contact)


@pytest.fixture
def titled(world, alices_contact):
    """alices_contact whose job title alice changed from "" to "CEO"."""
    event = edit(alices_contact, world.alice, job_title="CEO")
    return alices_contact, event


# -- service

def test_revert_sets_the_old_value_through_the_service_and_is_audited(world, titled):
    contact, event = titled
    obj, changed = revert_change(contact, event_id=event.pgh_id, field="job_title", actor=world.alice)
    assert changed == ["job_title"]
    assert Contact.objects.get(pk=contact.pk).job_title == ""
    revert = last_update(contact)
    assert revert.pgh_diff["job_title"] == ["CEO", ""]
    assert revert.pgh_context["source"] == "revert" and revert.pgh_context["user"] == world.alice.pk
    assert revert.pgh_context["reverted_event"] == event.pgh_id


def test_revert_of_a_name_recomputes_derived_fields(world, alices_contact):
    event = edit(alices_contact, world.admin, first_name="Anna")
    assert Contact.objects.get(pk=alices_contact.pk).display_name == "Anna Alpha"
    revert_change(alices_contact, event_id=event.pgh_id, field="first_name", actor=world.admin)
    contact = Contact.objects.get(pk=alices_contact.pk)
    assert contact.display_name == "Ann Alpha" and contact.search_name.startswith("ann")


def test_revert_of_typed_fields(world, alices_contact):
    edit(alices_contact, world.admin, birth_date="1990-05-01", phone="+14155552672",
         preferred_channels=["sms"])
    event = last_update(alices_contact)
    for field in ("birth_date", "phone", "preferred_channels"):
        revert_change(Contact.objects.get(pk=alices_contact.pk), event_id=event.pgh_id, field=field,
                      actor=world.admin)
    contact = Contact.objects.get(pk=alices_contact.pk)
    assert contact.birth_date is None and str(contact.phone) == "+14155552671"
    assert contact.preferred_channels == []


def test_revert_of_the_owner_and_fk_changes_show_in_history(world, alices_contact):
    event = edit(alices_contact, world.admin, owner=world.bob)
    change = next(c for e in describe_history(alices_contact) for c in e["changes"] if c["field"] == "owner")
    assert change["old"] == "Alice Rep" and change["new"] == "Bob Rep" and change["revertable"]
    revert_change(alices_contact, event_id=event.pgh_id, field="owner", actor=world.admin)
    assert Contact.objects.get(pk=alices_contact.pk).owner_id == world.alice.pk


def test_conflict_when_changed_again_since_unless_confirmed(world, titled):
    contact, event = titled
    edit(contact, world.alice, job_title="CTO")
    with pytest.raises(RevertConflict) as conflict:
        revert_change(contact, event_id=event.pgh_id, field="job_title", actor=world.alice)
    assert "changed again since" in str(conflict.value) and conflict.value.current == "CTO"
    assert Contact.objects.get(pk=contact.pk).job_title == "CTO"
    revert_change(contact, event_id=event.pgh_id, field="job_title", actor=world.alice, confirm=True)
    assert Contact.objects.get(pk=contact.pk).job_title == ""


def test_fields_that_cannot_be_reverted(world, titled):
    from django.core.exceptions import ValidationError

    contact, event = titled
    for field in ("display_name", "email_consent", "organization", "nonsense", "first_name"):
        with pytest.raises(ValidationError) as exc:
            revert_change(contact, event_id=event.pgh_id, field=field, actor=world.alice)
        assert "field" in exc.value.message_dict
    insert = Events.objects.tracks(contact).filter(pgh_label="insert").get()
    with pytest.raises(EventNotFound):
        revert_change(contact, event_id=insert.pgh_id, field="job_title", actor=world.alice)


def test_old_value_no_longer_valid_is_refused(world, alices_contact):
    from django.core.exceptions import ValidationError

    event = edit(alices_contact, world.admin, email="new@example.com")
    make_contact(world, "Other", email="ann@example.com")  # takes the old email
    with pytest.raises(ValidationError) as exc:
        revert_change(alices_contact, event_id=event.pgh_id, field="email", actor=world.admin)
    assert "email" in exc.value.message_dict
    assert Contact.objects.get(pk=alices_contact.pk).email == "new@example.com"


def test_rep_cannot_revert_an_owner_to_someone_else(world, alices_contact):
    from django.core.exceptions import ValidationError

    event = edit(alices_contact, world.admin, owner=world.bob)  # now bob's
    edit(Contact.objects.get(pk=alices_contact.pk), world.admin, owner=world.alice)  # back to alice
    event2 = last_update(alices_contact)
    with pytest.raises(ValidationError) as exc:
        revert_change(alices_contact, event_id=event2.pgh_id, field="owner", actor=fresh(world.alice))
    assert "owner" in exc.value.message_dict
    assert Contact.objects.get(pk=alices_contact.pk).owner_id == world.alice.pk
    assert event  # the earlier change stays in the history


def test_history_of_one_object_does_not_reach_another(world, titled):
    contact, event = titled
    other = make_contact(world, "Zed", owner=world.alice)
    with pytest.raises(EventNotFound):
        revert_change(other, event_id=event.pgh_id, field="job_title", actor=world.admin)


def test_company_revert(world, company):
    update_company(company=company, data={"industry": "Software"})
    event = last_update(company)
    revert_change(company, event_id=event.pgh_id, field="industry", actor=world.admin)
    company.refresh_from_db()
    assert company.industry == ""


# -- pages

def revert_url(obj, event, kind="contacts"):
    return f"/{kind}/{obj.pk}/history/{event.pgh_id}/revert/"


def test_page_shows_revert_buttons_to_writers_only(client, world, titled):
    contact, event = titled
    client.force_login(world.alice)
    page = body(client.get(f"/contacts/{contact.pk}/"))
    assert revert_url(contact, event) in page
    client.force_login(world.viewer_a)
    page = body(client.get(f"/contacts/{contact.pk}/"))
    assert "CEO" in page and revert_url(contact, event) not in page


def test_page_revert_happy_path(client, world, titled):
    contact, event = titled
    client.force_login(world.alice)
    response = client.post(revert_url(contact, event), {"field": "job_title"})
    assert response.status_code == 302 and response["Location"] == f"/contacts/{contact.pk}/#history-heading"
    assert Contact.objects.get(pk=contact.pk).job_title == ""
    page = body(client.get(f"/contacts/{contact.pk}/"))
    assert "Reverted the change of Job title" in page and "revert" in page.split('id="history-heading"')[1]


def test_page_revert_conflict_asks_to_confirm(client, world, titled):
    contact, event = titled
    edit(contact, world.alice, job_title="CTO")
    client.force_login(world.alice)
    response = client.post(revert_url(contact, event), {"field": "job_title"})
    assert response.status_code == 409 and "changed again since" in body(response) and "CTO" in body(response)
    assert Contact.objects.get(pk=contact.pk).job_title == "CTO"
    response = client.post(revert_url(contact, event), {"field": "job_title", "confirm": "1"})
    assert response.status_code == 302 and Contact.objects.get(pk=contact.pk).job_title == ""


def test_page_revert_bad_field_is_400(client, world, titled):
    contact, event = titled
    client.force_login(world.alice)
    for field in ("", "display_name", "email_consent"):
        response = client.post(revert_url(contact, event), {"field": field})
        assert response.status_code == 400 and "field" in body(response)
    assert Contact.objects.get(pk=contact.pk).job_title == "CEO"
    assert client.post(f"/contacts/{contact.pk}/history/999999/revert/", {"field": "job_title"}).status_code == 404
    assert client.get(revert_url(contact, event)).status_code == 405


@pytest.mark.parametrize("who,status", [("viewer_a", 403), ("bob", 404), ("rita", 404), ("charlie", 404),
                                        ("manager_b", 404)])
def test_page_revert_permissions(client, world, titled, who, status):
    contact, event = titled
    client.force_login(getattr(world, who))
    assert client.post(revert_url(contact, event), {"field": "job_title"}).status_code == status
    assert Contact.objects.get(pk=contact.pk).job_title == "CEO"


def test_page_revert_company(client, world, company):
    update_company(company=company, data={"industry": "Software"})
    event = last_update(company)
    client.force_login(world.viewer_a)
    assert client.post(revert_url(company, event, "companies"), {"field": "industry"}).status_code == 403
    client.force_login(world.charlie)
    assert client.post(revert_url(company, event, "companies"), {"field": "industry"}).status_code == 404
    client.force_login(world.alice)  # the owner
    assert revert_url(company, event, "companies") in body(client.get(f"/companies/{company.pk}/"))
    assert client.post(revert_url(company, event, "companies"), {"field": "industry"}).status_code == 302
    company.refresh_from_db()
    assert company.industry == ""


def test_detail_page_queries_do_not_grow_with_history(client, world, alices_contact, django_assert_max_num_queries):
    client.force_login(world.admin)
    edit(alices_contact, world.alice, job_title="A")
    client.get(f"/contacts/{alices_contact.pk}/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(f"/contacts/{alices_contact.pk}/")
    for i in range(10):
        edit(Contact.objects.get(pk=alices_contact.pk), world.admin if i % 2 else world.bob, job_title=f"T{i}",
             owner=world.bob if i % 2 else world.alice)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(f"/contacts/{alices_contact.pk}/").status_code == 200
