"""contacts.segments: every rule type compiled against real rows, nested and/or, relative
dates, malformed trees (errors with their path), visibility of segments and saved views,
and one SQL query per evaluation."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities.models import Activity
from companies.models import Company
from contacts.models import Contact, ContactCompany, SavedView, Segment, Sharing
from contacts.segments import MAX_DEPTH, MAX_RULES, CriteriaError, compile_criteria, validate_criteria
from contacts.services import create_contact, set_tags
from crm.models import CustomFieldDefinition, Tag
from tests.conftest import fresh

pytestmark = pytest.mark.django_db


def rule(field, operator, value=None, **extra):
    node = {"field": field, "operator": operator, **extra}
    if value is not None:
        node["value"] = value
    return node


def AND(*rules):
    return {"op": "and", "rules": list(rules)}


def OR(*rules):
    return {"op": "or", "rules": list(rules)}


class Data:
    pass


def ago(days):
    return timezone.now() - datetime.timedelta(days=days)


@pytest.fixture
def data(world):
    d = Data()
    org = world.org
    d.vip = Tag.objects.create(organization=org, name="VIP")
    d.hot = Tag.objects.create(organization=org, name="Hot")
    d.cold = Tag.objects.create(organization=org, name="Cold")
    d.budget = CustomFieldDefinition.objects.create(organization=org, model="contact", key="budget", label="Budget",
                                                    field_type="number")
    d.lang = CustomFieldDefinition.objects.create(organization=org, model="contact", key="lang", label="Language",
                                                  field_type="select", options=["en", "de", "fr"])
    d.topics = CustomFieldDefinition.objects.create(organization=org, model="contact", key="topics",
                                                    label="Topics", field_type="multiselect",
                                                    options=["a", "b", "c"])
    d.renewal = CustomFieldDefinition.objects.create(organization=org, model="contact", key="renewal",
                                                     label="Renewal", field_type="date")
    d.vip_flag = CustomFieldDefinition.objects.create(organization=org, model="contact", key="vip",
                                                      label="VIP customer", field_type="boolean")
    d.note = CustomFieldDefinition.objects.create(organization=org, model="contact", key="note", label="Note",
                                                  field_type="text")
    d.acme = Company.objects.create(organization=org, name="Acme", domain="acme.test")

    def make(name, tags=(), **data):
        score = data.pop("score", 0)  # computed (contacts.scoring): set directly for the segment tests
        contact = create_contact(organization=org, data={"first_name": name, **data})
        Contact.all_objects.filter(pk=contact.pk).update(score=score)
        contact.score = score
        if tags:
            set_tags(contact, tags)
        return contact

    today = timezone.localdate()
    d.ann = make("Ann", [d.vip, d.hot], lifecycle_stage="lead", score=80, source="referral", owner=world.alice,
                 team=world.team_a, email="ann@example.com", job_title="Head of Sales", industry="Software",
                 country="DE", city="Berlin",
                 custom_fields={"budget": 50000, "lang": "de", "topics": ["a", "b"],
                                "renewal": (today + datetime.timedelta(days=10)).isoformat(), "vip": True,
                                "note": "Met at Expo"})
    d.bob = make("Bob", [d.vip], lifecycle_stage="mql", score=40, source="website", owner=world.bob,
                 team=world.team_a, phone="+14155552671", job_title="CTO", industry="Healthcare",
                 custom_fields={"budget": 1000, "lang": "en", "topics": ["c"], "vip": False})
    d.cid = make("Cid", [d.cold], lifecycle_stage="customer", score=10, owner=world.rita, team=world.team_b,
                 email="cid@example.com", custom_fields={"renewal": (today - datetime.timedelta(days=100)).isoformat()})
    d.dee = make("Dee", lifecycle_stage="customer", score=95)  # unowned, no team, no tags
    # Dates: Ann created today; Bob 40 days ago; Cid 400 days ago; Dee 100 days ago.
    for contact, days in ((d.bob, 40), (d.cid, 400), (d.dee, 100)):
        Contact.objects.filter(pk=contact.pk).update(created_at=ago(days), updated_at=ago(days))
    Contact.objects.filter(pk=d.ann.pk).update(last_activity_at=ago(2))
    Contact.objects.filter(pk=d.cid.pk).update(last_activity_at=ago(200))
    ContactCompany.objects.create(organization=org, contact=d.ann, company=d.acme, is_primary=True)
    # Activities: Ann 3 calls in the last week, Bob 1 email 60 days ago and 1 call 5 days ago, Cid 1 note 200 days ago
    for days in (1, 3, 6):
        Activity.objects.create(organization=org, contact=d.ann, type="call", occurred_at=ago(days))
    Activity.objects.create(organization=org, contact=d.bob, type="email_sent", occurred_at=ago(60))
    Activity.objects.create(organization=org, contact=d.bob, type="call", occurred_at=ago(5))
    Activity.objects.create(organization=org, contact=d.cid, type="note", occurred_at=ago(200))
    # A planned call tomorrow is not "in the last N days".
    Activity.objects.create(organization=org, contact=d.dee, type="call", occurred_at=ago(-1.5), status="planned")
    # Another organization's look-alike never matches.
    other_tag = Tag.objects.create(organization=world.other_org, name="VIP")
    d.foreign = create_contact(organization=world.other_org, data={"first_name": "Ann", "lifecycle_stage": "lead"})
    Contact.all_objects.filter(pk=d.foreign.pk).update(score=80)
    set_tags(d.foreign, [other_tag])
    d.world = world
    return d


def names(data, tree):
    q = compile_criteria(tree, data.world.org.pk)
    return sorted(Contact.objects.filter(organization=data.world.org).filter(q).values_list("first_name", flat=True))


@pytest.mark.parametrize("tree_fn, expected", [
    # contact fields
    (lambda d: rule("lifecycle_stage", "in", ["lead", "mql"]), ["Ann", "Bob"]),
    (lambda d: rule("lifecycle_stage", "not_in", ["customer"]), ["Ann", "Bob"]),
    (lambda d: rule("source", "in", ["referral"]), ["Ann"]),
    (lambda d: rule("owner", "in", [d.world.alice.pk, d.world.rita.pk]), ["Ann", "Cid"]),
    (lambda d: rule("owner", "not_in", [d.world.alice.pk]), ["Bob", "Cid", "Dee"]),
    (lambda d: rule("owner", "is_empty"), ["Dee"]),
    (lambda d: rule("team", "in", [d.world.team_b.pk]), ["Cid"]),
    (lambda d: rule("team", "is_not_empty"), ["Ann", "Bob", "Cid"]),
    (lambda d: rule("score", "gte", 80), ["Ann", "Dee"]),
    (lambda d: rule("score", "lt", 40), ["Cid"]),
    (lambda d: rule("score", "between", [30, 85]), ["Ann", "Bob"]),
    (lambda d: rule("score", "neq", 10), ["Ann", "Bob", "Dee"]),
    (lambda d: rule("job_title", "contains", "sales"), ["Ann"]),
    (lambda d: rule("job_title", "eq", "cto"), ["Bob"]),
    (lambda d: rule("job_title", "is_empty"), ["Cid", "Dee"]),
    (lambda d: rule("industry", "starts_with", "health"), ["Bob"]),
    (lambda d: rule("industry", "not_contains", "soft"), ["Bob", "Cid", "Dee"]),
    (lambda d: rule("country", "eq", "de"), ["Ann"]),
    (lambda d: rule("has_email", "is", True), ["Ann", "Cid"]),
    (lambda d: rule("has_phone", "is", True), ["Bob"]),
    (lambda d: rule("email_consent", "in", ["unknown"]), ["Ann", "Bob", "Cid", "Dee"]),
    # tags
    (lambda d: rule("tags", "any", [d.hot.pk, d.cold.pk]), ["Ann", "Cid"]),
    (lambda d: rule("tags", "all", [d.vip.pk, d.hot.pk]), ["Ann"]),
    (lambda d: rule("tags", "none", [d.vip.pk]), ["Cid", "Dee"]),
    # companies
    (lambda d: rule("company", "any", [d.acme.pk]), ["Ann"]),
    (lambda d: rule("company", "is_empty"), ["Bob", "Cid", "Dee"]),
    # custom fields
    (lambda d: rule("cf_budget", "gte", 10000), ["Ann"]),
    (lambda d: rule("cf_budget", "eq", 1000), ["Bob"]),
    (lambda d: rule("cf_budget", "between", [500, 60000]), ["Ann", "Bob"]),
    (lambda d: rule("cf_budget", "is_empty"), ["Cid", "Dee"]),
    (lambda d: rule("cf_lang", "in", ["de", "fr"]), ["Ann"]),
    (lambda d: rule("cf_lang", "not_in", ["de"]), ["Bob"]),
    (lambda d: rule("cf_topics", "any", ["b", "c"]), ["Ann", "Bob"]),
    (lambda d: rule("cf_topics", "all", ["a", "b"]), ["Ann"]),
    (lambda d: rule("cf_topics", "none", ["a"]), ["Bob", "Cid", "Dee"]),
    (lambda d: rule("cf_renewal", "in_next_days", 30), ["Ann"]),
    (lambda d: rule("cf_renewal", "more_than_days_ago", 30), ["Cid"]),
    (lambda d: rule("cf_renewal", "before", timezone.localdate().isoformat()), ["Cid"]),
    (lambda d: rule("cf_vip", "is", True), ["Ann"]),
    (lambda d: rule("cf_vip", "is", False), ["Bob"]),
    (lambda d: rule("cf_note", "contains", "expo"), ["Ann"]),
    # activity counts
    (lambda d: rule("activity_count", "gte", 3), ["Ann"]),
    (lambda d: rule("activity_count", "eq", 2), ["Bob"]),
    (lambda d: rule("activity_count", "eq", 0), []),
    (lambda d: rule("activity_count", "gte", 1, activity_type="call", days=7), ["Ann", "Bob"]),
    (lambda d: rule("activity_count", "gte", 2, activity_type="call", days=7), ["Ann"]),
    (lambda d: rule("activity_count", "eq", 0, days=30), ["Cid", "Dee"]),
    (lambda d: rule("activity_count", "lt", 2, activity_type=["note", "email_sent"]), ["Ann", "Bob", "Cid", "Dee"]),
    (lambda d: rule("activity_count", "gt", 0, activity_type="note", days=365), ["Cid"]),
    # dates, absolute and relative to today
    (lambda d: rule("created_at", "in_last_days", 30), ["Ann"]),
    (lambda d: rule("created_at", "in_last_days", 90), ["Ann", "Bob"]),
    (lambda d: rule("created_at", "more_than_days_ago", 90), ["Cid", "Dee"]),
    (lambda d: rule("created_at", "on", timezone.localdate().isoformat()), ["Ann"]),
    (lambda d: rule("created_at", "before", (timezone.localdate() - datetime.timedelta(days=365)).isoformat()),
     ["Cid"]),
    (lambda d: rule("created_at", "between", [(timezone.localdate() - datetime.timedelta(days=120)).isoformat(),
                                              (timezone.localdate() - datetime.timedelta(days=30)).isoformat()]),
     ["Bob", "Dee"]),
    (lambda d: rule("updated_at", "after", (timezone.localdate() - datetime.timedelta(days=50)).isoformat()),
     ["Ann", "Bob"]),
    (lambda d: rule("last_activity_at", "in_last_days", 7), ["Ann"]),
    (lambda d: rule("last_activity_at", "is_empty"), ["Bob", "Dee"]),
    # nested and/or
    (lambda d: AND(rule("lifecycle_stage", "in", ["lead", "customer"]),
                   OR(rule("score", "gte", 90), rule("tags", "any", [d.cold.pk]))), ["Cid", "Dee"]),
    (lambda d: OR(AND(rule("score", "gte", 50), rule("tags", "any", [d.vip.pk])),
                  AND(rule("owner", "is_empty"), OR(rule("score", "lt", 10), rule("score", "gt", 90)))),
     ["Ann", "Dee"]),
])
def test_rules_match_real_rows(data, tree_fn, expected):
    tree = tree_fn(data)
    if "op" not in tree:
        tree = AND(tree)
    assert names(data, tree) == expected


def test_five_criteria_segment_counts_in_one_query(data, django_assert_num_queries):
    world = data.world
    segment = Segment(organization=world.org, name="Hot leads", created_by=world.admin, criteria=AND(
        rule("lifecycle_stage", "in", ["lead", "mql"]), rule("tags", "any", [data.vip.pk]),
        rule("score", "gte", 30), rule("created_at", "in_last_days", 365),
        rule("activity_count", "gte", 1, days=90)))
    segment.full_clean()
    segment.save()
    admin = fresh(world.admin)
    Contact.objects.visible_to(admin).exists()  # scope cached, as within a request
    with django_assert_num_queries(1):
        assert segment.contacts_for(admin).count() == 2
    # Through the gate: alice sees only her own contact; manager_b sees neither.
    assert list(segment.contacts_for(fresh(world.alice))) == [data.ann]
    assert segment.contacts_for(fresh(world.manager_b)).count() == 0
    assert segment.contacts_for(fresh(world.charlie)).count() == 0


def test_custom_field_rules_cost_one_definitions_query(data, django_assert_num_queries):
    tree = AND(rule("cf_budget", "gte", 1), rule("cf_renewal", "in_next_days", 30))
    with CaptureQueriesContext(connection) as ctx:
        q = compile_criteria(tree, data.world.org.pk)
        assert list(Contact.objects.filter(q).values_list("first_name", flat=True)) == ["Ann"]
    assert len(ctx.captured_queries) == 2


def test_query_count_does_not_grow_with_rows(data):
    tree = AND(rule("tags", "any", [data.vip.pk]), rule("activity_count", "gte", 1))
    def run():
        with CaptureQueriesContext(connection) as ctx:
            list(Contact.objects.filter(compile_criteria(tree, data.world.org.pk)))
        return len(ctx.captured_queries)
    before = run()
    for i in range(10):
        c = create_contact(organization=data.world.org, data={"first_name": f"More{i}"})
        set_tags(c, [data.vip])
        Activity.objects.create(organization=data.world.org, contact=c, type="call")
    assert run() == before == 1


def errors_of(tree, org_id):
    with pytest.raises(CriteriaError) as exc:
        validate_criteria(tree, org_id)
    return exc.value.as_dict()


@pytest.mark.parametrize("tree, path, fragment", [
    ("nope", "criteria", "must be a group"),
    ({"rules": []}, "criteria", "must be a group"),
    ({"op": "xor", "rules": [{"field": "score", "operator": "gte", "value": 1}]}, "criteria.op", '"and" or "or"'),
    ({"op": "and", "rules": []}, "criteria.rules", "at least one"),
    ({"op": "and", "rules": "x"}, "criteria.rules", "list of rules"),
    (AND(rule("nope", "eq", 1)), "criteria.rules[0].field", "Unknown field"),
    (AND(rule("score", "contains", 1)), "criteria.rules[0].operator", "Unknown operator"),
    (AND(rule("score", "gte", "many")), "criteria.rules[0].value", "Enter a number"),
    (AND(rule("score", "gte")), "criteria.rules[0].value", "Give a value"),
    (AND(rule("score", "between", [5, 1])), "criteria.rules[0].value", "greater than"),
    (AND(rule("score", "gte", 1), OR(rule("score", "gte", 1), rule("lifecycle_stage", "in", ["king"]))),
     "criteria.rules[1].rules[1].value", "Unknown choice"),
    (AND(OR(rule("created_at", "in_last_days", "soon"))), "criteria.rules[0].rules[0].value", "days"),
    (AND(rule("created_at", "on", "31/12/2025")), "criteria.rules[0].value", "YYYY-MM-DD"),
    (AND(rule("created_at", "is_empty")), "criteria.rules[0].operator", "Unknown operator"),
    (AND(rule("has_email", "is", "yes")), "criteria.rules[0].value", "true or false"),
    (AND(rule("tags", "any", [999999])), "criteria.rules[0].value", "No tag with id 999999"),
    (AND(rule("tags", "any", ["VIP"])), "criteria.rules[0].value", "ids"),
    (AND(rule("owner", "in", [1.5])), "criteria.rules[0].value", "ids"),
    (AND(rule("cf_missing", "eq", 1)), "criteria.rules[0].field", "No custom field 'missing'"),
    (AND(rule("activity_count", "gte", 1, days=0)), "criteria.rules[0].days", "at least 1"),
    (AND(rule("activity_count", "gte", 1, activity_type="dance")), "criteria.rules[0].activity_type", "types"),
    (AND(rule("activity_count", "gte", -1)), "criteria.rules[0].value", "0 or more"),
    (AND(rule("score", "gte", 1, days=3)), "criteria.rules[0].days", "Unknown key"),
    (AND(rule("owner", "is_empty", [1])), "criteria.rules[0].value", "takes no value"),
    (AND("score >= 1"), "criteria.rules[0]", "must be an object"),
])
def test_malformed_trees_name_the_path(world, tree, path, fragment):
    errors = errors_of(tree, world.org.pk)
    assert path in errors, errors
    assert any(fragment in message for message in errors[path]), errors


def test_foreign_ids_are_rejected(data):
    world = data.world
    foreign_tag = Tag.objects.create(organization=world.other_org, name="Theirs")
    errors = errors_of(AND(rule("tags", "any", [foreign_tag.pk]), rule("owner", "in", [world.charlie.pk]),
                           rule("team", "in", [world.team_a.pk])), world.org.pk)
    assert set(errors) == {"criteria.rules[0].value", "criteria.rules[1].value"}


def test_depth_and_size_limits(world):
    tree = rule("score", "gte", 1)
    for _ in range(MAX_DEPTH + 1):
        tree = AND(tree)
    assert any("nested at most" in m for ms in errors_of(tree, world.org.pk).values() for m in ms)
    many = AND(*[rule("score", "gte", i) for i in range(MAX_RULES + 1)])
    assert "at most 50 rules" in " ".join(errors_of(many, world.org.pk)["criteria"])


def test_all_errors_are_reported_at_once(world):
    errors = errors_of(AND(rule("score", "gte", "x"), rule("nope", "eq", 1)), world.org.pk)
    assert set(errors) == {"criteria.rules[0].value", "criteria.rules[1].field"}


def test_segment_name_unique_per_org_case_insensitive(world):
    criteria = AND(rule("score", "gte", 1))
    Segment.objects.create(organization=world.org, name="Hot", created_by=world.admin, criteria=criteria)
    dup = Segment(organization=world.org, name="hot", created_by=world.alice, criteria=criteria)
    with pytest.raises(ValidationError) as exc:
        dup.full_clean()
    assert "name" in exc.value.message_dict
    Segment(organization=world.other_org, name="HOT", created_by=world.charlie, criteria=criteria).full_clean()


def test_model_clean_reports_criteria_paths(world):
    segment = Segment(organization=world.org, name="Bad", created_by=world.admin,
                      criteria=AND(rule("score", "gte", "x")))
    with pytest.raises(ValidationError) as exc:
        segment.full_clean()
    assert exc.value.message_dict["criteria"] == ["criteria.rules[0].value: Enter a number."]


def test_team_sharing_needs_a_team(world):
    segment = Segment(organization=world.org, name="S", created_by=world.admin, sharing=Sharing.TEAM,
                      criteria=AND(rule("score", "gte", 1)))
    with pytest.raises(ValidationError) as exc:
        segment.full_clean()
    assert "sharing" in exc.value.message_dict


def _shared_rows(world, model, creator_field, **extra):
    def make(name, creator, sharing, team=None, org=None):
        return model.objects.create(organization=org or world.org, name=name, sharing=sharing, team=team,
                                    **{creator_field: creator}, **extra)
    return {
        "alice_private": make("alice private", world.alice, Sharing.PRIVATE),
        "alice_team": make("alice team", world.alice, Sharing.TEAM, world.team_a),
        "rita_team": make("rita team", world.rita, Sharing.TEAM, world.team_b),
        "rita_org": make("rita org", world.rita, Sharing.ORGANIZATION),
        "foreign_org": make("foreign", world.charlie, Sharing.ORGANIZATION, org=world.other_org),
    }


@pytest.mark.parametrize("model, creator_field, extra", [
    (Segment, "created_by", {"criteria": AND(rule("score", "gte", 1))}),
    (SavedView, "user", {}),
])
@pytest.mark.parametrize("who, sees, changes", [
    ("admin", {"alice_private", "alice_team", "rita_team", "rita_org"},
     {"alice_private", "alice_team", "rita_team", "rita_org"}),
    ("alice", {"alice_private", "alice_team", "rita_org"}, {"alice_private", "alice_team"}),
    ("bob", {"alice_team", "rita_org"}, set()),
    ("manager_a", {"alice_team", "rita_org"}, set()),
    ("rita", {"rita_team", "rita_org"}, {"rita_team", "rita_org"}),
    ("viewer_a", {"alice_team", "rita_org"}, set()),
    ("charlie", {"foreign_org"}, {"foreign_org"}),
    ("other_rep", {"foreign_org"}, set()),
])
def test_visibility_per_role(world, model, creator_field, extra, who, sees, changes):
    rows = _shared_rows(world, model, creator_field, **extra)
    user = fresh(getattr(world, who))
    by_pk = {row.pk: name for name, row in rows.items()}
    assert {by_pk[pk] for pk in model.objects.visible_to(user).values_list("pk", flat=True)} == sees
    for action in ("change", "delete"):
        assert {by_pk[pk] for pk in model.objects.visible_to(user, action).values_list("pk", flat=True)} == changes
