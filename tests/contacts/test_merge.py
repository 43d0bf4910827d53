"""Merging contacts and companies (contacts/merge.py): the union of every kind of related row,
the default and explicit choice of values, the exact undo (full row dumps), conflicts, and bad
input that changes nothing."""

from __future__ import annotations

import datetime
import json

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.utils import timezone
from guardian.models import UserObjectPermission
from pghistory.models import Events

from activities.models import Activity, Notification
from activities.timeline import page as timeline_page
from companies.models import Company
from contacts import merge as merging
from contacts.models import (
    ConsentEvent, Contact, ContactCompany, ContactRelationship, ContactTag, ContactUserLink,
    ContactUserObjectPermission, Merge,
)
from contacts.services import create_contact, record_consent, set_tags
from crm.models import CustomFieldDefinition, Tag
from messaging.models import Message
from tests.conftest import fresh


def contact(world, name, **data):
    data.setdefault("owner", world.alice)
    data.setdefault("team", world.team_a)
    return create_contact(organization=world.org, data={"first_name": name, **data})


def backdate(obj, minutes):
    type(obj).all_objects.filter(pk=obj.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=minutes))
    obj.refresh_from_db()


def table_dump() -> dict[str, list]:
    """Every row of every table that references contacts or companies (and the records
    themselves, and tag counts), as row_to_json, by table."""
    labels = {label.rsplit(".", 1)[0] for label, how in merging.RELATIONS.items() if how == merging.REPOINT}
    models = [apps.get_model(label) for label in labels] + [UserObjectPermission, Notification, Tag, Contact,
                                                              Company]
    dump = {}
    with connection.cursor() as cursor:
        for model in set(models):
            table = model._meta.db_table
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t ORDER BY t.id")
            dump[table] = [json.loads(r[0]) for r in cursor.fetchall()]
    return dump


@pytest.fixture
def pair(world):
    """Two contacts of alice's, with rows of every kind; `ann` is older, `anna` newer."""
    org = world.org
    vip = Tag.objects.create(organization=org, name="VIP")
    hot = Tag.objects.create(organization=org, name="Hot")
    cold = Tag.objects.create(organization=org, name="Cold")
    CustomFieldDefinition.objects.create(organization=org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    CustomFieldDefinition.objects.create(organization=org, model="contact", key="shoe", label="Shoe size",
                                         field_type="text")
    ann = contact(world, "Ann", last_name="Lee", email="ann@old.test", job_title="Buyer",
                  custom_fields={"budget": 100, "shoe": "38"})
    anna = contact(world, "Anna", last_name="Lee", email="anna@new.test", phone="+14155550100",
                   custom_fields={"budget": 250})
    other = contact(world, "Otto")
    set_tags(ann, [vip, hot])
    set_tags(anna, [hot, cold])
    acme = Company.objects.create(organization=org, name="Acme", domain="acme.test")
    bolt = Company.objects.create(organization=org, name="Bolt", domain="bolt.test")
    ContactCompany.objects.create(organization=org, contact=ann, company=acme, is_primary=True, role="Buyer")
    ContactCompany.objects.create(organization=org, contact=anna, company=acme, role="Lead")
    ContactCompany.objects.create(organization=org, contact=anna, company=bolt, is_primary=True)
    ContactRelationship.objects.create(organization=org, from_contact=ann, to_contact=anna, type="colleague")
    ContactRelationship.objects.create(organization=org, from_contact=ann, to_contact=other, type="reports_to")
    ContactRelationship.objects.create(organization=org, from_contact=anna, to_contact=other, type="reports_to")
    ContactRelationship.objects.create(organization=org, from_contact=other, to_contact=ann, type="friend")
    ContactUserLink.objects.create(organization=org, contact=ann, user=world.bob, role="support_rep")
    ContactUserLink.objects.create(organization=org, contact=anna, user=world.bob, role="support_rep")
    record_consent(contact=ann, channel="sms", status="granted", source="manual")
    record_consent(contact=anna, channel="email", status="revoked", source="manual")
    call = Activity.objects.create(organization=org, contact=ann, type="call", subject="Old call")
    note = Activity.objects.create(organization=org, contact=anna, type="note", subject="New note")
    message = Message.objects.create(organization=org, contact=ann, to_number="+14155550199", body="Hi")
    Notification.objects.create(organization=org, recipient=world.alice, kind="other", title="Look",
                                url=f"/contacts/{ann.pk}/")
    view = Permission.objects.get(codename="view_contact")
    ContactUserObjectPermission.objects.create(user=world.rita, permission=view, content_object=ann)
    ContactUserObjectPermission.objects.create(user=world.rita, permission=view, content_object=anna)
    UserObjectPermission.objects.assign_perm("change_contact", world.bob, ann)
    backdate(ann, 60)
    backdate(anna, 5)
    return type("Pair", (), dict(ann=ann, anna=anna, other=other, vip=vip, hot=hot, cold=cold, acme=acme,
                                 bolt=bolt, call=call, note=note, message=message))


def test_merge_unions_every_kind_of_row_and_undo_restores_every_table_exactly(world, pair):
    before = table_dump()
    hot_count = Tag.objects.get(pk=pair.hot.pk).usage_count

    record = merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])

    anna, ann = Contact.all_objects.get(pk=pair.anna.pk), Contact.all_objects.get(pk=pair.ann.pk)
    assert ann.deleted_at is not None and ann.merged_into_id == anna.pk
    # tags: union, the shared one once
    assert set(ContactTag.objects.filter(contact=anna).values_list("tag__name", flat=True)) == {"VIP", "Hot", "Cold"}
    assert not ContactTag.objects.filter(contact=ann).exists()
    assert Tag.objects.get(pk=pair.hot.pk).usage_count == hot_count - 1
    # companies: the duplicate link collapsed, one primary kept
    links = ContactCompany.objects.filter(contact=anna)
    assert sorted(links.values_list("company__name", "is_primary")) == [("Acme", False), ("Bolt", True)]
    # relationships: the one between the two gone; both "reports to Otto" collapsed; Otto's friend moved
    rels = set(ContactRelationship.objects.values_list("from_contact_id", "to_contact_id", "type"))
    assert rels == {(anna.pk, pair.other.pk, "reports_to"), (pair.other.pk, anna.pk, "friend")}
    assert ContactUserLink.objects.filter(contact=anna).count() == 1
    # consent history: both events on the survivor, current status from the ledger
    assert ConsentEvent.objects.filter(contact=anna).count() == 2
    assert (anna.sms_consent, anna.email_consent) == ("granted", "revoked")
    assert set(Activity.objects.filter(contact=anna, type__in=["call", "note"]).values_list("pk", flat=True)) == {
        pair.call.pk, pair.note.pk}
    assert Message.objects.get(pk=pair.message.pk).contact_id == anna.pk
    assert Notification.objects.get().url == f"/contacts/{ann.pk}/"  # that page leads to the survivor now
    assert ContactUserObjectPermission.objects.filter(content_object=anna).count() == 1
    assert UserObjectPermission.objects.get().object_pk == str(anna.pk)
    # values: newest non-empty (anna is newer) with the older one's where anna has none
    assert (anna.first_name, anna.email, anna.job_title) == ("Anna", "anna@new.test", "Buyer")
    assert anna.custom_fields == {"budget": 250, "shoe": "38"}
    assert str(anna.phone) == "+14155550100"
    # one audit context: every change of the merge carries it
    events = Events.objects.filter(pgh_context__merge=record.pk)
    assert {e.pgh_model for e in events} >= {"contacts.ContactEvent", "contacts.ContactTagEvent",
                                              "contacts.ContactCompanyEvent"}
    # the timeline: the merged record's activities and changes, and the merge entry
    timeline = timeline_page(fresh(world.alice), anna, page_size=100)
    titles = [e.activity.subject if e.activity else e.change["title"] for e in timeline.entries]
    assert "Merged Ann Lee into this contact" in titles
    assert "Old call" in titles and "New note" in titles
    assert any("merged record #%d" % ann.pk in t for t in titles)

    merging.undo(fresh(world.alice), record)
    assert table_dump() == before
    assert Merge.objects.get(pk=record.pk).undone_at is not None


def test_explicit_choices_win_over_the_defaults(world, pair):
    record = merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk],
                           {"email": pair.ann.pk, "phone": pair.ann.pk, "custom_fields.budget": pair.ann.pk})
    anna = Contact.objects.get(pk=pair.anna.pk)
    assert anna.email == "ann@old.test"  # the merged record's unique email moves to the survivor
    assert anna.phone in ("", None)
    assert anna.custom_fields["budget"] == 100
    assert record.fields["email"] == pair.ann.pk and record.fields["first_name"] == pair.anna.pk


def test_undo_refuses_with_the_list_when_a_record_changed_since(world, pair):
    record = merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])
    anna = Contact.objects.get(pk=pair.anna.pk)
    anna.job_title = "CEO"
    anna.save()
    Activity.objects.filter(pk=pair.call.pk).update(contact=pair.other)  # moved on since
    ContactTag.objects.filter(contact=anna, tag=pair.vip).delete()  # the tag that came from Ann, removed
    Activity.objects.filter(pk=pair.note.pk).update(subject="Edited")  # no conflict: the undo keeps it
    snapshot = table_dump()
    with pytest.raises(merging.MergeConflict) as exc:
        merging.undo(fresh(world.alice), record)
    text = " ".join(exc.value.conflicts)
    assert "the surviving contact" in text and "job title changed" in text
    assert f"activity #{pair.call.pk}: contact changed since the merge" in text
    assert "contact tag #" in text and "was deleted since the merge" in text
    assert f"activity #{pair.note.pk}" not in text
    assert table_dump() == snapshot  # nothing silently overwritten
    assert Merge.objects.get(pk=record.pk).undone_at is None


def test_undoing_twice_is_refused(world, pair):
    record = merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])
    merging.undo(fresh(world.alice), record)
    snapshot = table_dump()
    with pytest.raises(ValidationError, match="already undone"):
        merging.undo(fresh(world.alice), record)
    assert table_dump() == snapshot


@pytest.mark.parametrize("case", ["itself", "other_org", "rep_sees_only", "viewer", "deleted", "merged", "one"])
def test_bad_merges_change_nothing(world, pair, case):
    user, survivor, merged, error = fresh(world.alice), pair.anna.pk, [pair.ann.pk], ValidationError
    if case == "itself":
        merged = [pair.anna.pk]
    elif case == "other_org":
        foreign = create_contact(organization=world.other_org, data={"first_name": "F"})
        merged, error = [foreign.pk], Http404
    elif case == "rep_sees_only":
        # bob sees ann through a view grant but may not change her
        ContactUserObjectPermission.objects.create(user=world.bob, permission=Permission.objects.get(
            codename="view_contact"), content_object=pair.anna)
        theirs = contact(world, "Bobs", owner=world.bob)
        user, survivor, merged, error = fresh(world.bob), theirs.pk, [pair.anna.pk], PermissionDenied
    elif case == "viewer":
        user, error = fresh(world.viewer_a), PermissionDenied
    elif case == "deleted":
        Contact.all_objects.filter(pk=pair.ann.pk).update(deleted_at=timezone.now())
    elif case == "merged":
        third = contact(world, "Third")
        merging.merge(fresh(world.alice), "contact", third.pk, [pair.ann.pk])
    elif case == "one":
        merged = []
    snapshot = table_dump()
    with pytest.raises(error) as exc:
        merging.merge(user, "contact", survivor, merged)
    assert table_dump() == snapshot
    message = str(exc.value)
    if case == "itself":
        assert "cannot be merged into itself" in message
    if case == "rep_sees_only":
        assert f"#{pair.anna.pk}" in message and "not change" in message
    if case in ("deleted", "merged"):
        assert f"#{pair.ann.pk}" in message and ("trash" in message or "merged" in message)


def test_bad_choices_name_the_field(world, pair):
    snapshot = table_dump()
    with pytest.raises(ValidationError) as exc:
        merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk], {"email": pair.other.pk})
    assert "fields.email" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk], {"nope": pair.ann.pk})
    assert "nope" in str(exc.value)
    assert table_dump() == snapshot


def test_merging_companies_repoints_links_children_and_activities_and_undoes_exactly(world):
    org = world.org
    old = Company.objects.create(organization=org, name="Acme Inc", domain="acme.test", industry="Retail")
    new = Company.objects.create(organization=org, name="ACME", domain="", website="https://acme.test")
    child = Company.objects.create(organization=org, name="Acme Kids", parent=old)
    Company.all_objects.filter(pk=new.pk).update(parent=old)
    person = contact(world, "Pat")
    both = contact(world, "Bo")
    ContactCompany.objects.create(organization=org, contact=person, company=old, is_primary=True)
    ContactCompany.objects.create(organization=org, contact=both, company=old)
    ContactCompany.objects.create(organization=org, contact=both, company=new, is_primary=True)
    cy = contact(world, "Cy")
    ContactCompany.objects.create(organization=org, contact=cy, company=old, is_primary=True)
    ContactCompany.objects.create(organization=org, contact=cy, company=new)
    note = Activity.objects.create(organization=org, company=old, type="note", subject="Co note")
    backdate(old, 30)
    before = table_dump()

    record = merging.merge(fresh(world.admin), "company", new.pk, [old.pk])

    new.refresh_from_db()
    assert (new.name, new.domain, new.industry, new.parent_id) == ("ACME", "acme.test", "Retail", None)
    assert Company.all_objects.get(pk=old.pk).merged_into_id == new.pk
    assert Company.objects.get(pk=child.pk).parent_id == new.pk
    assert ContactCompany.objects.filter(company=new).count() == 3
    # Cy's primary link (to the merged company) was a duplicate: the surviving link is primary now
    assert ContactCompany.objects.get(contact=cy).is_primary
    assert Activity.objects.get(pk=note.pk).company_id == new.pk
    assert Contact.objects.get(pk=person.pk).company_name == "ACME"
    assert Activity.objects.filter(company=new, metadata__merge=record.pk).exists()

    merging.undo(fresh(world.admin), record)
    assert table_dump() == before


def test_the_survivor_may_take_the_merged_companys_domain_unique_per_org(world):
    a = Company.objects.create(organization=world.org, name="A", domain="a.test")
    b = Company.objects.create(organization=world.org, name="B", domain="b.test")
    merging.merge(fresh(world.admin), "company", a.pk, [b.pk], {"domain": b.pk})
    assert Company.objects.get(pk=a.pk).domain == "b.test"


def test_chained_merges_keep_the_history_and_undo_in_reverse_order(world, pair):
    before = table_dump()
    first = merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])
    second = merging.merge(fresh(world.alice), "contact", pair.other.pk, [pair.anna.pk])
    # Ann was merged into Anna, Anna into Otto: Otto's timeline has both, Ann points at Otto
    assert Contact.all_objects.get(pk=pair.ann.pk).merged_into_id == pair.other.pk
    timeline = timeline_page(fresh(world.alice), Contact.objects.get(pk=pair.other.pk), page_size=100)
    titles = " ".join(e.activity.subject if e.activity else e.change["title"] for e in timeline.entries)
    assert f"merged record #{pair.ann.pk}" in titles and f"merged record #{pair.anna.pk}" in titles
    assert "Old call" in titles
    with pytest.raises(merging.MergeConflict) as exc:
        merging.undo(fresh(world.alice), first)
    assert any("moved to the trash" in c for c in exc.value.conflicts)
    merging.undo(fresh(world.alice), second)
    merging.undo(fresh(world.alice), first)
    assert table_dump() == before


def test_a_merged_record_comes_back_only_through_the_undo(world, pair):
    from contacts import bulk
    from contacts.services import restore_contact

    merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])
    ann = Contact.all_objects.get(pk=pair.ann.pk)
    with pytest.raises(ValidationError) as exc:
        restore_contact(ann)
    assert "undo the merge" in str(exc.value.message_dict["merged_into"])
    job = bulk.start(fresh(world.alice), action="restore", ids=[ann.pk])
    item = job.items.get()
    assert (item.outcome, item.field) == ("invalid", "merged_into")
    assert Contact.all_objects.get(pk=ann.pk).deleted_at is not None


def test_the_survivors_timeline_costs_the_same_queries_whatever_the_merged_history(
        world, pair, django_assert_max_num_queries):
    from contacts.services import update_contact

    for i in range(30):  # a long history on the record merged away
        update_contact(contact=Contact.objects.get(pk=pair.ann.pk), data={"job_title": f"Title {i}"})
    merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])
    anna, user = Contact.objects.get(pk=pair.anna.pk), fresh(world.alice)
    timeline_page(user, anna, page_size=5)  # the user's scope is cached from here on
    counts = []
    for size in (15, 40):
        with django_assert_max_num_queries(12) as captured:
            result = timeline_page(user, anna, page_size=size)
        counts.append(len(captured))
        changes = [e.change for e in result.entries if e.change]
        # the merged record's updates are diffed against its own previous change
        assert any(c["changes"] and c["changes"][0]["field"] == "job_title" for c in changes)
    assert counts[1] <= counts[0]  # a longer page costs no more (at most two queries for earlier changes)


def test_platform_staff_cannot_merge_across_organizations(world, pair):
    from crm.models import User

    staff = User.objects.create_superuser("staff@kith.test", "x")
    foreign = create_contact(organization=world.other_org, data={"first_name": "F"})
    snapshot = table_dump()
    with pytest.raises(Http404, match=f"#{foreign.pk}"):
        merging.merge(staff, "contact", pair.anna.pk, [foreign.pk])
    assert table_dump() == snapshot


def test_undo_keeps_later_edits_of_moved_rows(world, pair):
    record = merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])
    Activity.objects.filter(pk=pair.call.pk).update(subject="Call, notes added later")
    merging.undo(fresh(world.alice), record)
    call = Activity.objects.get(pk=pair.call.pk)
    assert (call.contact_id, call.subject) == (pair.ann.pk, "Call, notes added later")


def test_undo_keeps_the_survivors_later_activity_dates(world, pair):
    from activities.services import log_activity

    record = merging.merge(fresh(world.alice), "contact", pair.anna.pk, [pair.ann.pk])
    before = Contact.all_objects.get(pk=pair.anna.pk).last_activity_at
    later = log_activity(organization_id=world.org.pk, actor=world.alice, data={
        "contact": Contact.objects.get(pk=pair.anna.pk), "type": "call", "subject": "Follow-up after the merge"})
    merging.undo(fresh(world.alice), record)
    anna = Contact.all_objects.get(pk=pair.anna.pk)
    assert anna.last_activity_at == anna.last_contacted_at == later.occurred_at
    assert before is None or later.occurred_at > before
