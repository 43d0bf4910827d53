"""/contacts/<id>/: everything about a contact, inline editing and tags with htmx."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import Activity
from contacts.models import Contact, ContactCompany, ContactRelationship, ContactTag, ContactUserLink
from contacts.services import record_consent, update_contact
from crm.audit import change_context
from crm.models import CustomFieldDefinition, Tag

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def full_contact(world, alices_contact, company, tags):
    """Alice's contact with a bit of everything."""
    c = alices_contact
    boss = make_contact(world, "Bea", "Boss", owner=world.alice)
    report = make_contact(world, "Rick", "Report", owner=world.alice)
    hidden = make_contact(world, "Secret", "Person", owner=world.rita)  # alice cannot see this one
    ContactRelationship.objects.create(organization=world.org, from_contact=c, to_contact=boss, type="reports_to")
    ContactRelationship.objects.create(organization=world.org, from_contact=report, to_contact=c, type="reports_to")
    ContactRelationship.objects.create(organization=world.org, from_contact=c, to_contact=hidden, type="friend")
    ContactCompany.objects.create(organization=world.org, contact=c, company=company, role="CTO",
                                  decision_role="decision_maker", is_primary=True)
    ContactTag.objects.create(organization=world.org, contact=c, tag=tags["vip"])
    ContactUserLink.objects.create(organization=world.org, contact=c, user=world.bob, role="account_manager")
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="shoe_size",
                                         label="Shoe size", field_type="number")
    Contact.objects.filter(pk=c.pk).update(custom_fields={"shoe_size": 43})
    record_consent(contact=c, channel="sms", status="granted", source="web_form", evidence="Ticked 'Text me'")
    for i in range(3):
        Activity.objects.create(organization=world.org, contact=c, type="call", subject=f"Call number {i}",
                                actor=world.alice)
    with change_context(actor=world.bob, source="web"):
        update_contact(contact=Contact.objects.get(pk=c.pk), data={"job_title": "Chief Technologist"})
    return c


def test_detail_shows_everything(client, world, full_contact):
    client.force_login(world.alice)
    response = client.get(f"/contacts/{full_contact.pk}/")
    assert response.status_code == 200
    page = body(response)
    for text in ["Ann Alpha", "ann@example.com", "Initech", "CTO", "Decision maker", "Primary",
                 "Bea Boss", "Reports to", "Rick Report", "VIP", "Shoe size", "43", "Granted", "Ticked",
                 "Bob Rep", "Account manager", "Call number 2", "Alice Rep", "Chief Technologist",
                 "Team A", "+1 415-555-2671"]:
        assert text in page, text
    # History: who, field, old → new.
    assert "Job title" in page and "Bob Rep" in page and "diff-new" in page
    # A related contact alice may not see is not named.
    assert "Secret Person" not in page
    # Newest activity first.
    assert page.index("Call number 2") < page.index("Call number 0")


def test_timeline_shows_a_first_page_and_loads_the_rest_when_scrolled(client, world, alices_contact):
    Activity.objects.bulk_create([Activity(organization=world.org, contact=alices_contact, type="note",
                                           subject=f"Note {i}") for i in range(60)])
    client.force_login(world.alice)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    # The first page of the timeline (activities/timeline.py), then a sentinel that loads the next one.
    assert page.count('class="timeline-item"') == 25 and 'hx-trigger="revealed"' in page


def test_detail_query_count_is_bounded(client, world, full_contact):
    client.force_login(world.alice)
    client.get(f"/contacts/{full_contact.pk}/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/contacts/{full_contact.pk}/").status_code == 200
    small = len(ctx.captured_queries)
    # More of everything does not mean more queries.
    more = [make_contact(world, f"R{i}", owner=world.alice) for i in range(5)]
    for other in more:
        ContactRelationship.objects.create(organization=world.org, from_contact=full_contact, to_contact=other,
                                           type="colleague")
    for i in range(10):
        Activity.objects.create(organization=world.org, contact=full_contact, type="note", actor=world.bob)
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/contacts/{full_contact.pk}/")
    assert len(ctx.captured_queries) == small
    # The page, its timeline (activities, changes, their authors, assignable members), the SMS panel
    # and the score card (history, activity aggregate, replies, score 30 days ago).
    assert small <= 28, [q["sql"][:120] for q in ctx.captured_queries]


@pytest.mark.parametrize("who, status", [
    ("admin", 200), ("manager_a", 200), ("alice", 200), ("viewer_a", 200),
    ("manager_b", 404), ("bob", 404), ("rita", 404), ("charlie", 404), ("other_rep", 404),
])
def test_detail_visibility(client, world, alices_contact, who, status):
    client.force_login(getattr(world, who))
    assert client.get(f"/contacts/{alices_contact.pk}/").status_code == status


def test_detail_anonymous_and_missing(client, world, alices_contact):
    response = client.get(f"/contacts/{alices_contact.pk}/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(world.admin)
    assert client.get("/contacts/999999/").status_code == 404


def test_viewer_sees_no_edit_controls(client, world, alices_contact):
    client.force_login(world.viewer_a)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    assert f"/contacts/{alices_contact.pk}/edit/" not in page
    assert "hx-get" not in page.split('id="details-heading"')[1].split("</dl>")[0]
    assert "Add a tag" not in page


def test_shared_contact_is_visible_through_a_guardian_grant(client, world, ritas_contact):
    from guardian.shortcuts import assign_perm

    client.force_login(world.alice)
    assert client.get(f"/contacts/{ritas_contact.pk}/").status_code == 404
    assign_perm("view_contact", world.alice, ritas_contact)
    assert client.get(f"/contacts/{ritas_contact.pk}/").status_code == 200
    assert client.get(f"/contacts/{ritas_contact.pk}/edit/").status_code == 403


# -- inline editing

def test_inline_edit_round_trip(client, world, alices_contact):
    client.force_login(world.alice)
    url = f"/contacts/{alices_contact.pk}/field/job_title/"
    form = client.get(url, {"edit": "1"}, **HTMX)
    assert form.status_code == 200
    assert "<html" not in body(form) and 'name="inline-job_title-job_title"' in body(form)
    saved = client.post(url, {"inline-job_title-job_title": "Head of Sales"}, **HTMX)
    assert saved.status_code == 200
    assert "Head of Sales" in body(saved) and "<form" not in body(saved)
    assert Contact.objects.get(pk=alices_contact.pk).job_title == "Head of Sales"
    cancel = client.get(url, **HTMX)
    assert "Head of Sales" in body(cancel) and "<form" not in body(cancel)


def test_inline_edit_of_a_name_updates_the_heading(client, world, alices_contact):
    client.force_login(world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/field/last_name/",
                           {"inline-last_name-last_name": "Zeta"}, **HTMX)
    assert 'id="contact-title" hx-swap-oob="true">Ann Zeta<' in body(response)


def test_inline_edit_error_is_shown_in_place(client, world, alices_contact):
    make_contact(world, "Other", email="taken@example.com", owner=world.rita)
    client.force_login(world.alice)
    url = f"/contacts/{alices_contact.pk}/field/email/"
    response = client.post(url, {"inline-email-email": "taken@example.com"}, **HTMX)
    assert response.status_code == 200
    page = body(response)
    assert "A contact with this email already exists in your organization." in page
    assert "<form" in page and "Other" not in page  # no name of a contact alice cannot see
    assert Contact.objects.get(pk=alices_contact.pk).email == "ann@example.com"
    response = client.post(f"/contacts/{alices_contact.pk}/field/phone/", {"inline-phone-phone": "12"}, **HTMX)
    assert "Enter a valid phone number" in body(response)
    response = client.post(f"/contacts/{alices_contact.pk}/field/first_name/", {"inline-first_name-first_name": ""},
                           **HTMX)
    assert "This field is required." in body(response)
    # The lead score is computed (contacts.scoring): not editable in place.
    response = client.post(f"/contacts/{alices_contact.pk}/field/score/", {"inline-score-score": "150"}, **HTMX)
    assert response.status_code == 404


def test_inline_stage_and_owner(client, world, alices_contact):
    client.force_login(world.manager_a)
    response = client.post(f"/contacts/{alices_contact.pk}/field/lifecycle_stage/",
                           {"inline-lifecycle_stage-lifecycle_stage": "customer"}, **HTMX)
    assert "Customer" in body(response)
    response = client.post(f"/contacts/{alices_contact.pk}/field/owner/", {"inline-owner-owner": world.bob.pk},
                           **HTMX)
    assert "Bob Rep" in body(response)
    assert Contact.objects.get(pk=alices_contact.pk).owner == world.bob
    # An owner from another organization is not a choice.
    response = client.post(f"/contacts/{alices_contact.pk}/field/owner/",
                           {"inline-owner-owner": world.other_rep.pk}, **HTMX)
    assert "Select a valid choice" in body(response)


def test_rep_may_only_choose_themselves_as_owner(client, world, alices_contact):
    client.force_login(world.alice)
    form = body(client.get(f"/contacts/{alices_contact.pk}/field/owner/", {"edit": 1}, **HTMX))
    assert "Alice Rep" in form and "Bob Rep" not in form
    response = client.post(f"/contacts/{alices_contact.pk}/field/owner/", {"inline-owner-owner": world.bob.pk},
                           **HTMX)
    assert "Select a valid choice" in body(response)
    assert Contact.objects.get(pk=alices_contact.pk).owner == world.alice


def test_inline_edit_permissions(client, world, alices_contact):
    url = f"/contacts/{alices_contact.pk}/field/job_title/"
    client.force_login(world.viewer_a)
    assert client.get(url, **HTMX).status_code == 200  # reading the value
    assert client.get(url, {"edit": 1}, **HTMX).status_code == 403
    assert client.post(url, {"inline-job_title-job_title": "X"}, **HTMX).status_code == 403
    client.force_login(world.bob)
    assert client.post(url, {"inline-job_title-job_title": "X"}, **HTMX).status_code == 404
    client.force_login(world.charlie)
    assert client.post(url, {"inline-job_title-job_title": "X"}, **HTMX).status_code == 404
    client.force_login(world.alice)
    assert client.get(f"/contacts/{alices_contact.pk}/field/organization/", **HTMX).status_code == 404
    assert Contact.objects.get(pk=alices_contact.pk).job_title == ""


def test_inline_edit_without_htmx_redirects(client, world, alices_contact):
    client.force_login(world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/field/job_title/", {"inline-job_title-job_title": "CEO"})
    assert response.status_code == 302 and response["Location"] == f"/contacts/{alices_contact.pk}/"


def test_inline_edit_is_audited_with_the_user(client, world, alices_contact):
    client.force_login(world.alice)
    client.post(f"/contacts/{alices_contact.pk}/field/job_title/", {"inline-job_title-job_title": "CEO"}, **HTMX)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    history = page.split('id="history-heading"')[1]
    assert "Job title" in history and "CEO" in history and "Alice Rep" in history


# -- tags

def test_add_and_remove_a_tag(client, world, alices_contact, tags):
    client.force_login(world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/tags/", {"tag": tags["vip"].pk}, **HTMX)
    assert response.status_code == 200
    assert "<html" not in body(response) and 'id="contact-tags"' in body(response) and "VIP" in body(response)
    assert list(alices_contact.tags.values_list("name", flat=True)) == ["VIP"]
    assert Tag.objects.get(pk=tags["vip"].pk).usage_count == 1
    response = client.post(f"/contacts/{alices_contact.pk}/tags/{tags['vip'].pk}/remove/", **HTMX)
    assert response.status_code == 200 and "No tags yet" in body(response)
    assert not alices_contact.tags.exists()
    assert Tag.objects.get(pk=tags["vip"].pk).usage_count == 0


def test_tag_of_another_organization_is_refused(client, world, alices_contact, tags):
    client.force_login(world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/tags/", {"tag": tags["foreign"].pk}, **HTMX)
    assert "Select a valid choice" in body(response)
    assert not alices_contact.tags.exists()


def test_tag_changes_need_change_permission(client, world, alices_contact, tags):
    client.force_login(world.viewer_a)
    assert client.post(f"/contacts/{alices_contact.pk}/tags/", {"tag": tags["vip"].pk}, **HTMX).status_code == 403
    client.force_login(world.rita)
    assert client.post(f"/contacts/{alices_contact.pk}/tags/", {"tag": tags["vip"].pk}, **HTMX).status_code == 404
    assert not alices_contact.tags.exists()


# -- consent

def test_record_consent_from_the_page(client, world, alices_contact):
    client.force_login(world.alice)
    response = client.post(f"/contacts/{alices_contact.pk}/consent/", {
        "consent-channel": "email", "consent-status": "revoked", "consent-source": "phone",
        "consent-evidence": "Asked on the phone to stop emails"}, follow=True)
    assert response.status_code == 200
    page = body(response)
    assert "Recorded email consent" in page and "Asked on the phone" in page
    assert Contact.objects.get(pk=alices_contact.pk).email_consent == "revoked"
    client.force_login(world.viewer_a)
    assert client.post(f"/contacts/{alices_contact.pk}/consent/", {
        "consent-channel": "sms", "consent-status": "granted", "consent-source": "manual"}).status_code == 403
