"""Bulk SMS: the "send_sms" action of POST /api/contacts/bulk/ on a selection, the list's filters or a
segment; contacts that cannot be texted are skipped with the reason; bad parameters are 400s naming
the field; not undoable; more than INLINE_LIMIT rows run in the background with progress."""

from __future__ import annotations

import pytest

from contacts import bulk
from contacts.models import ConsentStatus, Segment
from contacts.services import create_contact, record_consent
from contacts.tasks import run_bulk_operation
from crm.models import Job, JobItem
from messaging.models import Message, MessagingSettings, SmsTemplate
from tests.messaging.conftest import LANDLINE, MOBILE, texting_contact

pytestmark = pytest.mark.django_db

URL = "/api/contacts/bulk/"


@pytest.fixture
def four(world):
    """Two consenting mobiles, one without consent, one consenting landline (all alice's, team A).
    No quiet hours, and a rate that lets these few texts go at once (test_ratelimit covers the rate)."""
    MessagingSettings.objects.update_or_create(organization=world.org, defaults={
        "messages_per_second": 1000, "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    return [texting_contact(world, "Ann"), texting_contact(world, "Ben"),
            texting_contact(world, "Cid", consent=ConsentStatus.UNKNOWN),
            texting_contact(world, "Dee", number=LANDLINE)]


def post(api, user, **data):
    return api(user).post(URL, {"action": "send_sms", **data}, format="json")


def by_id(response):
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def test_selection_texts_the_textable_and_skips_the_others(api, world, four, capsys,
                                                           django_capture_on_commit_callbacks):
    ann, ben, cid, dee = four
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, world.alice, params={"body": "Hi {{first_name}}, our offer ends Friday."},
                        ids=[c.pk for c in four])
    rows = by_id(response)
    assert {pk: row["result"] for pk, row in rows.items()} == {
        ann.pk: "changed", ben.pk: "changed", cid.pk: "skipped", dee.pk: "skipped"}
    assert rows[cid.pk]["field"] == "contact" and "has not agreed" in rows[cid.pk]["message"]
    assert rows[dee.pk]["field"] == "to" and "landline" in rows[dee.pk]["message"]
    operation = response.json()["operation"]
    assert (operation["status"], operation["succeeded"], operation["failed"]) == ("done", 2, 2)
    messages = Message.objects.order_by("contact__first_name")
    assert [(m.contact_id, m.body, m.status) for m in messages] == [
        (ann.pk, "Hi Ann, our offer ends Friday.", "sent"), (ben.pk, "Hi Ben, our offer ends Friday.", "sent")]
    assert all(m.job_id == operation["id"] and m.actor_id == world.alice.pk for m in messages)
    assert all(m.activity.type == "sms_sent" for m in messages)  # on each contact's timeline
    assert "Hi Ann" in capsys.readouterr().out  # the console backend printed it
    # The operation lists the skipped contacts with the reason.
    detail = api(world.alice).get(f"/api/bulk-operations/{operation['id']}/")
    assert detail.status_code == 200
    assert "landline" in str(detail.json()) and "has not agreed" in str(detail.json())


def test_by_filters_and_by_segment(api, world, four, django_capture_on_commit_callbacks):
    ann, ben, cid, dee = four
    texting_contact(world, "Eve", owner=world.manager_b)  # another team: not matched by alice's view
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, world.alice, params={"body": "Hello"}, filters={"q": "Ann"})
    assert {pk: row["result"] for pk, row in by_id(response).items()} == {ann.pk: "changed"}
    segment = Segment.objects.create(organization=world.org, name="B and C", created_by=world.alice,
                                     criteria={"op": "or", "rules": [
                                         {"field": "first_name", "operator": "eq", "value": "Ben"},
                                         {"field": "first_name", "operator": "eq", "value": "Cid"}]})
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, world.alice, params={"body": "Hello"}, filters={"segment": segment.pk})
    assert {pk: row["result"] for pk, row in by_id(response).items()} == {ben.pk: "changed", cid.pk: "skipped"}
    assert sorted(Message.objects.values_list("contact__first_name", flat=True)) == ["Ann", "Ben"]


def test_template(api, world, four, django_capture_on_commit_callbacks):
    template = SmsTemplate.objects.create(organization=world.org, name="Promo", body="{{first_name}}: 20% off")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, world.alice, params={"template": template.pk}, ids=[four[0].pk])
    assert by_id(response)[four[0].pk]["result"] == "changed"
    message = Message.objects.get()
    assert message.body == "Ann: 20% off" and message.template_id == template.pk
    assert response.json()["operation"]["params"] == {"body": "", "template": template.pk}
    assert bulk.describe(Job.objects.get()) == "Send SMS: template Promo"


@pytest.mark.parametrize("params, field", [
    ({}, "body"),
    ({"body": "   "}, "body"),
    ({"body": "x" * 1531}, "body"),                    # 11 GSM segments
    ({"body": "Hi {{nickname}}"}, "body"),
    ({"body": "Hi", "colour": "red"}, "colour"),
    ({"template": "nope"}, "template"),
    ({"template": 999_999}, "template"),
    ({"template": "reminder"}, "template"),            # an appointment-reminder template
])
def test_bad_params_are_400_naming_the_field_and_nothing_is_created(api, world, four, params, field):
    if params.get("template") == "reminder":
        params = {"template": SmsTemplate.objects.create(organization=world.org, name="Reminder", kind="reminder",
                                                         body="See you {{meeting_time}}").pk}
    response = post(api, world.alice, params=params, ids=[four[0].pk])
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    if "nickname" in str(params):
        assert "{{nickname}}" in str(response.json()[field])
    assert not Job.objects.exists() and not Message.objects.exists()


def test_another_organizations_template_is_refused(api, world, four):
    theirs = SmsTemplate.objects.create(organization=world.other_org, name="Theirs", body="Hello")
    response = post(api, world.alice, params={"template": theirs.pk}, ids=[four[0].pk])
    assert response.status_code == 400 and "template" in response.json()
    assert not Job.objects.exists() and not Message.objects.exists()


def test_another_organizations_contacts_are_not_texted(api, world, four, django_capture_on_commit_callbacks):
    theirs = create_contact(organization=world.other_org, actor=world.other_rep, data={
        "first_name": "Zed", "mobile": MOBILE, "owner": world.other_rep})
    record_consent(contact=theirs, channel="sms", status=ConsentStatus.GRANTED, source="manual",
                   actor=world.other_rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, world.admin, params={"body": "Hi"}, ids=[theirs.pk, four[0].pk])
    rows = by_id(response)
    assert rows[theirs.pk]["result"] == "not_found" and rows[theirs.pk]["message"] == "No such contact."
    assert list(Message.objects.values_list("contact_id", flat=True)) == [four[0].pk]


def test_contacts_the_user_may_not_change_are_not_texted(api, world, four, django_capture_on_commit_callbacks):
    bobs = texting_contact(world, "Bo", owner=world.bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, world.alice, params={"body": "Hi"}, ids=[bobs.pk])
    assert by_id(response)[bobs.pk]["result"] in ("not_found", "forbidden")
    assert not Message.objects.exists()


def test_viewer_is_403(api, world, four):
    response = post(api, world.viewer_a, params={"body": "Hi"}, ids=[four[0].pk])
    assert response.status_code == 403
    assert not Job.objects.exists() and not Message.objects.exists()


def test_undo_is_refused(api, world, four, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, world.alice, params={"body": "Hi"}, ids=[four[0].pk])
    op = response.json()["operation"]["id"]
    undo = api(world.alice).post(f"/api/bulk-operations/{op}/undo/")
    assert undo.status_code == 400 and "cannot be unsent" in str(undo.json()["operation"])
    assert Job.objects.get(pk=op).status == "done" and Job.objects.count() == 1
    # The page shows why and offers no undo button; posting to it anyway is refused.
    client.force_login(world.alice)
    page = client.get(f"/contacts/bulk/{op}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cannot be unsent" in html and f"/contacts/bulk/{op}/undo/" not in html
    refused = client.post(f"/contacts/bulk/{op}/undo/", follow=True)
    assert "cannot be unsent" in refused.content.decode() and Job.objects.count() == 1


def test_more_than_inline_limit_runs_in_the_background_with_progress(api, world, four, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 2)
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)
    response = post(api, world.alice, params={"body": "Hi"}, ids=[c.pk for c in four])
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["total"] == 4 and body["progress"] == 0
    assert not Message.objects.exists() and not JobItem.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert run_bulk_operation(body["id"]) == "done"  # what the Celery worker runs
    job = api(world.alice).get(f"/api/bulk-operations/{body['id']}/").json()
    assert (job["status"], job["progress"], job["processed"], job["succeeded"], job["failed"]) == (
        "done", 100, 4, 2, 2)
    assert Message.objects.filter(job_id=body["id"], status="sent").count() == 2


def test_from_the_list_page(client, world, four, django_capture_on_commit_callbacks):
    """The action bar offers "Send SMS" with a message box (live segment counter) and the template
    picker; applying it texts the ticked contacts and shows the skipped ones on the operation's page."""
    SmsTemplate.objects.create(organization=world.org, name="Promo", body="{{first_name}}: 20% off")
    SmsTemplate.objects.create(organization=world.other_org, name="Theirs", body="Hello")
    client.force_login(world.alice)
    assert '<option value="send_sms">Send SMS</option>' in client.get("/contacts/").content.decode()
    inputs = client.get("/contacts/bulk/params/", {"action": "send_sms"}).content.decode()
    assert 'name="sms_body"' in inputs and 'data-sms-counter="bulk-sms-count"' in inputs
    assert "Promo" in inputs and "Theirs" not in inputs and "sms_counter.js" in inputs
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/contacts/bulk/", {"action": "send_sms", "sms_body": "Hi {{first_name}}",
                                                   "ids": [c.pk for c in four]}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "done for 2 contacts. 2 could not be texted" in html and "Not texted (2)" in html
    assert "landline" in html and "has not agreed" in html and "cannot be unsent" in html
    assert sorted(Message.objects.values_list("body", flat=True)) == ["Hi Ann", "Hi Ben"]


def test_from_the_list_page_bad_input_is_400_naming_the_field(client, world, four):
    client.force_login(world.alice)
    response = client.post("/contacts/bulk/", {"action": "send_sms", "sms_body": "Hi {{nick}}",
                                               "ids": [four[0].pk]})
    assert response.status_code == 400 and "Message: Unknown merge field {{nick}}" in response.content.decode()
    assert not Job.objects.exists() and not Message.objects.exists()
