"""The timeline on contact and company pages: chips, infinite scroll, quick-add forms,
task done/undone, and who may see and write what."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from activities.models import Activity
from contacts.models import Contact, ContactCompany
from tests.pages.conftest import body

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def note(world, contact=None, company=None, subject="A note", **data):
    return Activity.objects.create(organization=world.org, contact=contact, company=company, type="note",
                                   subject=subject, **data)


def test_contact_page_shows_chips_forms_and_entries(client, world, alices_contact):
    note(world, alices_contact, subject="Talked about pricing")
    client.force_login(world.alice)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    for text in ("Talked about pricing", "Contact created", 'class="chip-row"', ">Calls</a>", ">SMS</a>",
                 ">Changes</a>", 'id="quick-add-note"', 'id="quick-add-call"', 'id="quick-add-meeting"',
                 'id="quick-add-task"'):
        assert text in page, text


def test_type_chip_and_next_page(client, world, alices_contact):
    for i in range(30):
        note(world, alices_contact, subject=f"Note {i}", occurred_at=timezone.now() - datetime.timedelta(minutes=i))
    Activity.objects.create(organization=world.org, contact=alices_contact, type="call", subject="The call")
    client.force_login(world.alice)
    url = f"/contacts/{alices_contact.pk}/timeline/"
    calls = body(client.get(url, {"type": "calls"}, **HX))
    assert "The call" in calls and "Note 1" not in calls and 'aria-current="true">Calls' in calls
    first = body(client.get(url, **HX))
    assert first.count('class="timeline-item') == 25 and "Contact created" in first  # 24 notes and the creation
    cursor = first.split("cursor=")[1].split('"')[0].replace("&amp;", "&")
    from urllib.parse import unquote
    rest = body(client.get(url, {"type": "all", "cursor": unquote(cursor)}, **HX))
    assert rest.count('class="timeline-item') == 30 + 1 + 1 - 25 and "Note 29" in rest
    assert "Contact created" not in rest and "Note 0<" not in rest and "That's everything" in rest
    assert client.get(url, {"type": "party"}, **HX).status_code == 400
    assert client.get(url, {"cursor": "forged"}, **HX).status_code == 400


def test_timeline_pages_keep_a_constant_query_count(client, world, alices_contact, django_assert_max_num_queries):
    client.force_login(world.alice)
    url = f"/contacts/{alices_contact.pk}/timeline/"
    for count in (2, 80):
        Activity.objects.bulk_create([Activity(organization=world.org, contact=alices_contact, type="task",
                                               actor=world.alice, assigned_to=world.bob, subject=f"T{i}")
                                      for i in range(count)])
        with django_assert_max_num_queries(9):
            client.get(url, **HX)


@pytest.mark.parametrize("who", ["rita", "manager_b", "charlie", "other_rep"])
def test_others_get_404_and_see_nothing(client, world, alices_contact, who):
    note(world, alices_contact, subject="Secret talk")
    client.force_login(getattr(world, who))
    base = f"/contacts/{alices_contact.pk}/timeline/"
    assert client.get(base, **HX).status_code == 404
    assert client.post(f"{base}add/note/", {"note-body": "hi"}).status_code == 404
    activity = Activity.objects.create(organization=world.org, contact=alices_contact, type="task", subject="T")
    assert client.post(f"/activities/{activity.pk}/done/", {"done": "1"}).status_code == 404
    assert not Activity.objects.filter(type="note", body="hi").exists()


def test_company_timeline_hides_contacts_the_user_cannot_see(client, world, alices_contact, ritas_contact, company):
    for contact in (alices_contact, ritas_contact):
        ContactCompany.objects.create(organization=world.org, contact=contact, company=company)
    note(world, alices_contact, subject="About Ann")
    note(world, ritas_contact, subject="About Rob")
    note(world, company=company, subject="About Initech")
    client.force_login(world.rita)
    page = body(client.get(f"/companies/{company.pk}/"))
    assert "About Rob" in page and "About Initech" in page and "About Ann" not in page
    client.force_login(world.charlie)
    assert client.get(f"/companies/{company.pk}/timeline/", **HX).status_code == 404
    assert client.post(f"/companies/{company.pk}/timeline/add/note/", {"note-body": "x"}).status_code == 404


def test_viewer_sees_no_forms_and_cannot_write(client, world, alices_contact, company):
    task = Activity.objects.create(organization=world.org, contact=alices_contact, type="task", subject="Call back",
                                   status="planned")
    client.force_login(world.viewer_a)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    assert "Call back" in page and "quick-add" not in page and "task-check" not in page
    assert client.post(f"/contacts/{alices_contact.pk}/timeline/add/note/", {"note-body": "x"}).status_code == 403
    assert client.post(f"/companies/{company.pk}/timeline/add/note/", {"note-body": "x"}).status_code == 403
    assert client.post(f"/activities/{task.pk}/done/", {"done": "1"}).status_code == 403
    assert "quick-add" not in body(client.get(f"/companies/{company.pk}/"))
    assert not Activity.objects.filter(type="note").exists()
    assert Activity.objects.get(pk=task.pk).completed_at is None


# -- quick add

def add(client, contact, kind, data, **extra):
    return client.post(f"/contacts/{contact.pk}/timeline/add/{kind}/",
                       {f"{kind}-{k}": v for k, v in data.items()}, **extra)


def test_quick_add_note(client, world, alices_contact):
    client.force_login(world.alice)
    response = add(client, alices_contact, "note", {"body": "Likes golf"}, **HX)
    assert response.status_code == 200 and "Likes golf" in body(response)
    activity = Activity.objects.get(type="note")
    assert activity.actor == world.alice and activity.contact == alices_contact
    assert Contact.objects.get(pk=alices_contact.pk).last_activity_at == activity.occurred_at
    # Without htmx: back to the page.
    response = add(client, alices_contact, "note", {"body": "Second"})
    assert response.status_code == 302 and response.url.endswith(f"/contacts/{alices_contact.pk}/#timeline")


def test_quick_add_call(client, world, alices_contact):
    client.force_login(world.alice)
    response = add(client, alices_contact, "call", {"direction": "outbound", "outcome": "voicemail",
                                                    "duration": "3", "body": "Left a message"}, **HX)
    assert response.status_code == 200 and "Duration: 3 min" in body(response)
    call = Activity.objects.get(type="call")
    assert call.metadata == {"outcome": "voicemail", "duration_minutes": 3} and call.direction == "outbound"
    assert Contact.objects.get(pk=alices_contact.pk).last_contacted_at == call.occurred_at


def test_quick_add_meeting(client, world, alices_contact):
    client.force_login(world.alice)
    when = (timezone.localtime() + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = add(client, alices_contact, "meeting", {"subject": "Demo", "occurred_at": when, "location": "Café"},
                   **HX)
    assert response.status_code == 200 and "Place: Café" in body(response)
    meeting = Activity.objects.get(subject="Demo")
    assert meeting.type == "meeting_scheduled" and meeting.status == "planned"
    assert meeting.metadata == {"location": "Café"}
    # A planned meeting is not yet activity.
    assert Contact.objects.get(pk=alices_contact.pk).last_activity_at is None


def test_quick_add_task_for_a_colleague_notifies_them(client, world, alices_contact):
    client.force_login(world.manager_a)
    due = (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = add(client, alices_contact, "task", {"subject": "Send quote", "due_at": due,
                                                    "assigned_to": world.alice.pk}, **HX)
    assert response.status_code == 200, body(response)
    task = Activity.objects.get(type="task")
    assert task.assigned_to == world.alice and task.status == "planned" and task.completed_at is None
    assert world.alice.notifications.get().kind == "task_assigned"
    # Logged as done right away.
    add(client, alices_contact, "task", {"subject": "Already done", "done": "on"}, **HX)
    done = Activity.objects.get(subject="Already done")
    assert done.status == "done" and done.completed_at is not None


@pytest.mark.parametrize("kind,data,field,message", [
    ("note", {"body": ""}, "body", "This field is required"),
    ("call", {"direction": "outbound", "outcome": "ghosted"}, "outcome", "Select a valid choice"),
    ("call", {"direction": "outbound", "outcome": "busy", "duration": "-4"}, "duration", "greater than or equal"),
    ("call", {"direction": "outbound", "outcome": "busy", "occurred_at": "2999-01-01T10:00"}, "occurred_at",
     "cannot be in the future"),
    ("meeting", {"subject": "Demo", "occurred_at": "tomorrow-ish"}, "occurred_at", "Enter a valid date/time"),
    ("meeting", {"subject": "", "occurred_at": "2030-01-01T10:00"}, "subject", "This field is required"),
    ("task", {"subject": "Quote", "assigned_to": "rita"}, "assigned_to", "Select a valid choice"),
    ("task", {"subject": "", "due_at": "2030-01-01T10:00"}, "subject", "This field is required"),
])
def test_quick_add_bad_input_names_the_field_and_stores_nothing(client, world, alices_contact, kind, data, field,
                                                               message):
    client.force_login(world.alice)
    response = add(client, alices_contact, kind, data, **HX)
    page = body(response)
    assert response.status_code == 400 and message in page
    assert f'id="id_{kind}-{field}"' in page and "has-error" in page
    assert not Activity.objects.exists()


def test_task_cannot_go_to_someone_who_cannot_see_the_contact(client, world, alices_contact):
    client.force_login(world.manager_a)
    for person in (world.rita, world.manager_b, world.viewer_a, world.charlie):
        response = add(client, alices_contact, "task", {"subject": "Quote", "assigned_to": person.pk}, **HX)
        assert response.status_code == 400 and "assigned_to" in body(response)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    assert "Alice Rep" in page and "Rita Rep" not in page
    assert not Activity.objects.exists()


def test_quick_add_without_htmx_shows_errors_on_a_page(client, world, alices_contact):
    client.force_login(world.alice)
    response = add(client, alices_contact, "note", {"body": ""})
    assert response.status_code == 400 and "Nothing was added" in body(response)


# -- tasks done / undone

def test_task_done_and_undone(client, world, alices_contact):
    task = Activity.objects.create(organization=world.org, contact=alices_contact, type="task", subject="Quote",
                                   status="planned", assigned_to=world.alice)
    client.force_login(world.alice)
    response = client.post(f"/activities/{task.pk}/done/", {"done": "1", "show": "company"}, **HX)
    assert response.status_code == 200 and "badge-done" in body(response) and "checked" in body(response)
    task.refresh_from_db()
    assert task.status == "done" and task.completed_at is not None
    assert Contact.objects.get(pk=alices_contact.pk).last_activity_at == task.occurred_at
    response = client.post(f"/activities/{task.pk}/done/", {"done": "0"}, **HX)
    task.refresh_from_db()
    assert task.status == "planned" and task.completed_at is None and "badge-planned" in body(response)
    assert Contact.objects.get(pk=alices_contact.pk).last_activity_at is None
    assert client.post(f"/activities/{task.pk}/done/", {"done": "maybe"}).status_code == 400
    call = Activity.objects.create(organization=world.org, contact=alices_contact, type="call")
    assert client.post(f"/activities/{call.pk}/done/", {"done": "1"}).status_code == 404


def test_changes_from_the_contact_form_and_a_bulk_action_show_on_the_page(client, world, alices_contact):
    from contacts import bulk

    client.force_login(world.alice)
    client.post(f"/contacts/{alices_contact.pk}/field/lifecycle_stage/",
                {"inline-lifecycle_stage-lifecycle_stage": "customer"})
    bulk.start(world.manager_a, action="set_stage", params={"lifecycle_stage": "evangelist"}, ids=[alices_contact.pk])
    page = body(client.get(f"/contacts/{alices_contact.pk}/timeline/", {"type": "changes"}, **HX))
    assert "Stage changed to Customer" in page and "by Alice Rep" in page
    assert "Stage changed to Evangelist" in page and "bulk operation #" in page
    assert page.index("Evangelist") < page.index("Stage changed to Customer")


def test_timeline_links_work_without_javascript(client, world, alices_contact):
    for i in range(30):
        note(world, alices_contact, subject=f"Note {i}")
    client.force_login(world.alice)
    url = f"/contacts/{alices_contact.pk}/timeline/"
    page = body(client.get(url, {"type": "notes"}))
    assert "<html" in page and "Timeline of Ann Alpha" in page and 'aria-current="true">Notes' in page
    from urllib.parse import unquote

    cursor = unquote(page.split("cursor=")[1].split('"')[0])
    rest = body(client.get(url, {"type": "notes", "cursor": cursor}))
    assert "<html" in rest and rest.count('class="timeline-item"') == 5


def test_cancel_and_delete_from_the_timeline(client, world, alices_contact):
    when = timezone.now() - datetime.timedelta(days=1)
    call = Activity.objects.create(organization=world.org, contact=alices_contact, type="call", occurred_at=when)
    meeting = Activity.objects.create(organization=world.org, contact=alices_contact, type="meeting_scheduled",
                                      status="planned", occurred_at=timezone.now() + datetime.timedelta(days=1))
    Contact.objects.filter(pk=alices_contact.pk).update(last_activity_at=when, last_contacted_at=when)
    client.force_login(world.viewer_a)
    assert client.post(f"/activities/{meeting.pk}/cancel/").status_code == 403
    assert client.post(f"/activities/{call.pk}/delete/").status_code == 403
    client.force_login(world.rita)
    assert client.post(f"/activities/{call.pk}/delete/").status_code == 404
    client.force_login(world.alice)
    response = client.post(f"/activities/{meeting.pk}/cancel/", **HX)
    assert response.status_code == 200 and "badge-cancelled" in body(response)
    assert Activity.objects.get(pk=meeting.pk).status == "cancelled"
    assert client.post(f"/activities/{meeting.pk}/cancel/").status_code == 400  # not planned any more
    assert client.post(f"/activities/{call.pk}/delete/", **HX).content == b""
    assert not Activity.objects.filter(pk=call.pk).exists()
    contact = Contact.objects.get(pk=alices_contact.pk)
    assert contact.last_activity_at is None and contact.last_contacted_at is None


def test_any_writer_logs_on_a_company(client, world, company):
    client.force_login(world.rita)  # not the company's owner: companies are shared
    response = client.post(f"/companies/{company.pk}/timeline/add/task/",
                           {"task-subject": "Check the contract", "task-assigned_to": world.bob.pk}, **HX)
    assert response.status_code == 200 and "Check the contract" in body(response)
    task = Activity.objects.get(subject="Check the contract")
    assert task.company == company and task.contact is None and task.assigned_to == world.bob
    assert client.post(f"/activities/{task.pk}/cancel/", **HX).status_code == 200
    # Without htmx: the timeline as a page, a refused form on a page, a saved one back to the company.
    assert "Check the contract" in body(client.get(f"/companies/{company.pk}/timeline/"))
    assert client.post(f"/companies/{company.pk}/timeline/add/note/", {"note-body": ""}).status_code == 400
    response = client.post(f"/companies/{company.pk}/timeline/add/note/", {"note-body": "Renewal in May"})
    assert response.status_code == 302 and response.url == f"/companies/{company.pk}/#timeline"
    client.force_login(world.charlie)
    assert client.post(f"/activities/{task.pk}/cancel/").status_code == 404
    assert client.post(f"/activities/{task.pk}/delete/").status_code == 404
    assert Activity.objects.filter(pk=task.pk).exists()


def test_dates_are_shown_and_read_in_the_members_time_zone(client, world, alices_contact):
    from crm.models import Membership

    Membership.objects.filter(user=world.alice).update(timezone="Asia/Tokyo")
    client.force_login(world.alice)
    add(client, alices_contact, "meeting", {"subject": "Demo", "occurred_at": "2031-05-06T10:30"}, **HX)
    meeting = Activity.objects.get(subject="Demo")
    assert meeting.occurred_at == datetime.datetime(2031, 5, 6, 1, 30, tzinfo=datetime.timezone.utc)
    assert "May 6, 2031 · 10:30" in body(client.get(f"/contacts/{alices_contact.pk}/"))
    client.force_login(world.admin)  # no zone of their own: the site's (UTC here)
    assert "May 6, 2031 · 01:30" in body(client.get(f"/contacts/{alices_contact.pk}/"))


def test_a_meeting_can_carry_a_text_reminder(client, world, alices_contact, settings):
    from messaging.models import Message
    from tests.messaging.conftest import texting_contact

    tess = texting_contact(world)  # SMS consent and a mobile number
    client.force_login(world.alice)
    when = (timezone.localtime() + datetime.timedelta(days=3)).replace(hour=15, minute=0)
    response = add(client, tess, "meeting", {"subject": "Demo", "occurred_at": when.strftime("%Y-%m-%dT%H:%M"),
                                             "location": "Café Luna", "reminder": "1440"}, **HX)
    assert response.status_code == 200
    meeting = Activity.objects.get(subject="Demo")
    reminder = Message.objects.get(reminder_for=meeting)
    assert reminder.status == "scheduled"
    assert reminder.scheduled_for == meeting.occurred_at - datetime.timedelta(days=1)
    assert "Café Luna" in reminder.body


def test_a_reminder_that_cannot_be_sent_leaves_no_meeting(client, world, alices_contact):
    from messaging.models import Message

    client.force_login(world.alice)  # alices_contact has no SMS consent
    when = (timezone.localtime() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = add(client, alices_contact, "meeting", {"subject": "Demo", "occurred_at": when, "reminder": "60"},
                   **HX)
    assert response.status_code == 400
    assert "text messages" in body(response)
    assert not Activity.objects.filter(subject="Demo").exists() and not Message.objects.exists()
