"""My tasks (grouping in the member's time zone, visibility, queries) and notifications
(assignment, due tasks once, the bell, mark read, the digest)."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.core import mail
from django.utils import timezone

from activities.models import Activity, Notification
from activities.notifications import notify, notify_due_tasks, send_digests
from activities.services import log_activity, update_activity
from activities.tasks_page import task_groups
from contacts.services import update_contact
from crm.models import Membership

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def task(world, contact, subject, due, assignee=None, actor=None, **data):
    return log_activity(organization_id=world.org.pk, actor=actor or world.manager_a, data={
        "contact": contact, "type": "task", "subject": subject, "due_at": due,
        "assigned_to": assignee or world.alice, **data})


def test_groups_in_the_members_time_zone(world, ann):
    Membership.objects.filter(user=world.alice).update(timezone="Asia/Tokyo")
    now = datetime.datetime(2026, 3, 10, 23, 30, tzinfo=datetime.timezone.utc)  # Mar 11, 08:30 in Tokyo
    task(world, ann, "Yesterday (Tokyo)", datetime.datetime(2026, 3, 10, 12, 0, tzinfo=TOKYO))
    task(world, ann, "This evening (Tokyo)", datetime.datetime(2026, 3, 11, 20, 0, tzinfo=TOKYO))
    task(world, ann, "Earlier today (Tokyo)", datetime.datetime(2026, 3, 11, 7, 0, tzinfo=TOKYO))
    task(world, ann, "Tomorrow (Tokyo)", datetime.datetime(2026, 3, 12, 9, 0, tzinfo=TOKYO))
    task(world, ann, "Someday", None)
    task(world, ann, "Mona's", datetime.datetime(2026, 3, 11, 9, 0, tzinfo=TOKYO), assignee=world.manager_a)
    done = task(world, ann, "Done", datetime.datetime(2026, 3, 11, 9, 0, tzinfo=TOKYO))
    done.completed_at = now
    done.save()
    alice = Membership.objects.get(user=world.alice).user
    groups = task_groups(alice, now=now)
    names = {key: [t.subject for t in groups[key]] for key in ("overdue", "today", "upcoming")}
    assert names == {"overdue": ["Yesterday (Tokyo)", "Earlier today (Tokyo)"], "today": ["This evening (Tokyo)"],
                     "upcoming": ["Tomorrow (Tokyo)", "Someday"]}
    # Reckoned in UTC, this evening in Tokyo (11:00 UTC on Mar 11) would be after "today" (Mar 10).
    Membership.objects.filter(user=world.alice).update(timezone="UTC")
    utc = task_groups(Membership.objects.get(user=world.alice).user, now=now)
    assert [t.subject for t in utc["today"]] == [] and "This evening (Tokyo)" in [t.subject for t in utc["upcoming"]]


def test_tasks_on_contacts_no_longer_visible_drop_out(world, ann):
    task(world, ann, "Quote", timezone.now())
    assert len(task_groups(world.alice)["today"]) + len(task_groups(world.alice)["overdue"]) == 1
    update_contact(contact=ann, data={"owner": world.bob})
    from tests.conftest import fresh

    groups = task_groups(fresh(world.alice))
    assert not groups["overdue"] and not groups["today"] and not groups["upcoming"]


def test_my_tasks_page(client, world, ann, django_assert_max_num_queries):
    client.force_login(world.alice)
    assert "No open tasks" in client.get("/tasks/").content.decode()
    yesterday = timezone.now() - datetime.timedelta(days=1, hours=1)
    task(world, ann, "Late quote", yesterday)
    page = client.get("/tasks/").content.decode()
    assert "Late quote" in page and "Overdue" in page and 'aria-current="page"' in page
    with django_assert_max_num_queries(8):
        client.get("/tasks/")
    for i in range(40):
        task(world, ann, f"Task {i}", timezone.now() + datetime.timedelta(days=i % 5 - 2))
    with django_assert_max_num_queries(8):
        page = client.get("/tasks/").content.decode()
    assert page.count('class="task-row') == 41
    # Done from the list, and undone.
    late = Activity.objects.get(subject="Late quote")
    row = client.post(f"/activities/{late.pk}/done/", {"done": "1", "from": "tasks"}, **HX).content.decode()
    assert "is-done" in row and 'name="done" value="0"' in row
    assert "Late quote" not in client.get("/tasks/").content.decode()
    client.post(f"/activities/{late.pk}/done/", {"done": "0", "from": "tasks"})
    assert "Late quote" in client.get("/tasks/").content.decode()


@pytest.mark.parametrize("who", ["rita", "charlie"])
def test_my_tasks_shows_only_the_users_own(client, world, ann, who):
    task(world, ann, "Alice's task", timezone.now())
    client.force_login(getattr(world, who))
    assert "Alice's task" not in client.get("/tasks/").content.decode()


# -- notifications

def test_assignment_notifies_the_assignee_once(world, ann):
    quote = task(world, ann, "Quote", None, assignee=world.alice, actor=world.manager_a)
    own = task(world, ann, "Mine", None, assignee=world.manager_a, actor=world.manager_a)
    assert list(Notification.objects.values_list("recipient", "kind")) == [(world.alice.pk, "task_assigned")]
    assert "Mona Manager assigned you a task: Quote" == Notification.objects.get().title
    update_activity(activity=quote, data={"subject": "Quote v2"}, actor=world.manager_a)
    assert Notification.objects.count() == 1
    update_activity(activity=own, data={"assigned_to": world.alice}, actor=world.manager_a)
    assert Notification.objects.filter(recipient=world.alice).count() == 2


def test_due_tasks_notify_once(world, ann):
    now = timezone.now()
    due = task(world, ann, "Due", now - datetime.timedelta(minutes=5))
    task(world, ann, "Later", now + datetime.timedelta(hours=3))
    done = task(world, ann, "Done", now - datetime.timedelta(hours=1))
    update_activity(activity=done, data={"completed_at": now})
    Notification.objects.all().delete()  # the assignment notifications
    assert notify_due_tasks(now) == 1
    assert notify_due_tasks(now) == 0 and notify_due_tasks(now + datetime.timedelta(minutes=5)) == 0
    note = Notification.objects.get()
    assert note.kind == "task_due" and note.recipient == world.alice and note.key == f"task_due:{due.pk}"
    assert note.url == f"/contacts/{ann.pk}/#activity-{due.pk}"
    assert notify_due_tasks(now + datetime.timedelta(hours=4)) == 1  # "Later" came due


def test_notify_service_for_other_apps(world):
    made = notify(world.alice, "sms_received", "SMS from Ann", "/contacts/1/", world.org.pk, key="sms:SM1")
    assert made is not None and made.kind == "sms_received"
    assert notify(world.alice, "sms_received", "again", "/", world.org.pk, key="sms:SM1") is None
    assert notify(world.alice, "sms_received", "wrong org", "/", world.other_org.pk) is None
    assert Notification.objects.count() == 1


def test_bell_list_and_mark_read(client, world):
    for i in range(3):
        notify(world.alice, "task_due", f"Note {i}", f"/tasks/?{i}", world.org.pk)
    theirs = notify(world.rita, "task_due", "Rita's", "/tasks/", world.org.pk)
    client.force_login(world.alice)
    assert "3" in client.get("/notifications/count/", **HX).content.decode()
    page = client.get("/notifications/").content.decode()
    assert "Note 2" in page and "Rita's" not in page and "3 unread" in page
    first = Notification.objects.get(title="Note 0")
    response = client.post(f"/notifications/{first.pk}/read/", {"go": "1"})
    assert response.status_code == 302 and response.url == "/tasks/?0"
    assert Notification.objects.get(pk=first.pk).read_at is not None
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    client.post("/notifications/read-all/")
    assert not Notification.objects.filter(recipient=world.alice, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert "bell-count\"></span>" in client.get("/notifications/count/", **HX).content.decode().replace("\n", "")
    client.force_login(world.charlie)
    assert "Note 0" not in client.get("/notifications/").content.decode()


def test_header_has_the_bell_and_tasks_link(client, world):
    client.force_login(world.alice)
    page = client.get("/contacts/").content.decode()
    assert 'href="/tasks/"' in page and 'hx-get="/notifications/count/"' in page


# -- the digest

def test_digest_is_sent_once_and_only_with_news(world, ann, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Membership.objects.filter(user__in=[world.alice, world.bob]).update(email_digest=True)
    assert send_digests() == 0 and not mail.outbox  # nothing to say to anyone
    task(world, ann, "Overdue quote", timezone.now() - datetime.timedelta(days=2), actor=world.alice)
    notify(world.bob, "sms_received", "SMS from Ann", "/contacts/", world.org.pk)
    assert send_digests() == 2
    by_person = {m.to[0]: m.body for m in mail.outbox}
    assert "Overdue quote" in by_person["alice@acme.test"] and "SMS from Ann" in by_person["bob@acme.test"]
    assert send_digests() == 0 and len(mail.outbox) == 2  # once a day
    later = timezone.now() + datetime.timedelta(days=1)
    assert send_digests(later) == 1  # alice's task is still overdue; bob's notification is old news
    # Members who did not ask get nothing.
    assert all(m.to[0] in {"alice@acme.test", "bob@acme.test"} for m in mail.outbox)


def test_assignees_are_the_writers_who_can_see_the_contact(world, ann, rob):
    """activities.assignees applies the contact visibility rules to every member at once:
    it must agree with Contact.objects.visible_to for each member (viewers excluded)."""
    from guardian.shortcuts import assign_perm

    from activities.assignees import assignable_users
    from contacts.models import Contact
    from contacts.services import create_contact
    from crm.models import User
    from tests.conftest import fresh

    queue = create_contact(organization=world.org, data={"first_name": "Queue", "team": world.team_b})
    unassigned = create_contact(organization=world.org, data={"first_name": "Nobody's"})
    assign_perm("view_contact", world.bob, ann)
    for contact in (ann, rob, queue, unassigned):
        contact = Contact.objects.get(pk=contact.pk)
        expected = {u.pk for u in User.objects.filter(membership__organization=world.org)
                    .exclude(membership__role="viewer")
                    if Contact.objects.visible_to(fresh(u)).filter(pk=contact.pk).exists()}
        assert {u.pk for u in assignable_users(world.org.pk, contact)} == expected, contact
    assert world.bob.pk in {u.pk for u in assignable_users(world.org.pk, ann)}
    assert world.charlie.pk not in {u.pk for u in assignable_users(world.org.pk, None)}


def test_preferences_time_zone_and_digest(client, world):
    client.force_login(world.viewer_a)  # personal settings: every role
    assert '<option value="Europe/Berlin">' in client.get("/notifications/").content.decode()
    response = client.post("/notifications/", {"timezone": "Mars/Olympus", "email_digest": "on"})
    assert response.status_code == 400 and "is not a time zone" in response.content.decode()
    membership = Membership.objects.get(user=world.viewer_a)
    assert membership.timezone == "" and membership.email_digest is False
    response = client.post("/notifications/", {"timezone": "Europe/Berlin", "email_digest": "on"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.timezone == "Europe/Berlin" and membership.email_digest is True
    assert "times in Europe/Berlin" in client.get("/tasks/").content.decode()


def test_my_tasks_shows_times_in_the_members_zone(client, world, ann):
    Membership.objects.filter(user=world.alice).update(timezone="Asia/Tokyo")
    due = datetime.datetime(2031, 5, 6, 1, 30, tzinfo=datetime.timezone.utc)
    task(world, ann, "Call Tokyo", due)
    client.force_login(world.alice)
    assert "May 6 · 10:30" in client.get("/tasks/").content.decode()


def test_due_tasks_skip_trashed_contacts_inactive_members_and_old_tasks(world, ann, rob):
    from contacts.services import soft_delete_contact

    now = timezone.now()
    task(world, ann, "Trashed contact", now - datetime.timedelta(minutes=1))
    task(world, rob, "Rita left", now - datetime.timedelta(minutes=1), assignee=world.rita, actor=world.admin)
    task(world, rob, "Ancient", now - datetime.timedelta(days=30), assignee=world.admin, actor=world.admin)
    task(world, rob, "Recent", now - datetime.timedelta(days=6), assignee=world.admin, actor=world.admin)
    Notification.objects.all().delete()
    soft_delete_contact(ann)
    world.rita.is_active = False
    world.rita.save()
    assert notify_due_tasks(now) == 1
    assert list(Notification.objects.values_list("title", flat=True)) == ["Task due: Recent (Rob)"]


def test_beat_runs_the_due_check_and_the_digest(world, ann, settings):
    from activities import tasks

    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"activities.tasks.notify_due_tasks", "activities.tasks.send_daily_digests"} <= schedule
    task(world, ann, "Overdue", timezone.now() - datetime.timedelta(minutes=3))
    assert tasks.notify_due_tasks.apply().get() == 1
    assert tasks.notify_due_tasks.apply().get() == 0
    assert tasks.send_daily_digests.apply().get() == 0  # nobody asked for one
