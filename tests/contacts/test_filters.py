import datetime

import pytest
from django.test import RequestFactory
from django.utils import timezone

from companies.models import Company
from contacts.filters import ContactFilter
from contacts.models import Contact, ContactCompany
from contacts.services import create_contact, set_tags
from crm.models import CustomFieldDefinition, Tag
from tests.conftest import fresh

pytestmark = pytest.mark.django_db


def run(world, user, params):
    request = RequestFactory().get("/contacts/", params)
    request.user = fresh(user)
    f = ContactFilter(request.GET, queryset=Contact.objects.visible_to(request.user), request=request)
    return f


def names(f):
    assert f.is_valid(), f.errors
    return sorted(f.qs.values_list("first_name", flat=True))


@pytest.fixture
def people(world):
    vip = Tag.objects.create(organization=world.org, name="VIP")
    hot = Tag.objects.create(organization=world.org, name="Hot")
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="budget", label="Budget",
                                         field_type="number")
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="lang", label="Language",
                                         field_type="select", options=["en", "de"])
    initech = Company.objects.create(organization=world.org, name="Initech")

    def make(first, last="", **data):
        tags = data.pop("tags", [])
        score = data.pop("score", 0)  # computed (contacts.scoring): set directly for the filter tests
        contact = create_contact(organization=world.org, data={"first_name": first, "last_name": last, **data})
        Contact.all_objects.filter(pk=contact.pk).update(score=score)
        set_tags(contact, tags)
        return contact

    make("José", "Müller", email="jose@example.com", phone="+14155552671", lifecycle_stage="customer",
         owner=world.alice, team=world.team_a, score=80, tags=[vip, hot],
         custom_fields={"budget": 5000, "lang": "de"})
    make("Ann", "Lee", email="ann@initech.test", lifecycle_stage="lead", owner=world.bob, team=world.team_a,
         score=20, tags=[vip], source="referral", custom_fields={"budget": 100, "lang": "en"})
    bo = make("Bo", "Jensen", mobile="+447911123456", lifecycle_stage="lead", owner=world.rita, team=world.team_b)
    ContactCompany.objects.create(organization=world.org, contact=Contact.objects.get(first_name="Ann"),
                                  company=initech, is_primary=True)
    Contact.objects.filter(pk=bo.pk).update(created_at=timezone.now() - datetime.timedelta(days=400))
    create_contact(organization=world.other_org, data={"first_name": "Josef", "email": "jo@globex.test"})
    return {"vip": vip, "hot": hot, "initech": initech}


def test_prefix_search_on_names_email_and_phone_is_accent_and_case_insensitive(world, people):
    assert names(run(world, world.admin, {"q": "jos"})) == ["José"]
    assert names(run(world, world.admin, {"q": "MUL"})) == ["José"]  # last name first
    assert names(run(world, world.admin, {"q": "josé mü"})) == ["José"]
    assert names(run(world, world.admin, {"q": "ann@"})) == ["Ann"]
    assert names(run(world, world.admin, {"q": "(415) 555"})) == ["José"]
    assert names(run(world, world.admin, {"q": "7911 123"})) == ["Bo"]
    assert names(run(world, world.admin, {"q": "zz"})) == []


def test_search_respects_visibility(world, people):
    assert names(run(world, world.alice, {"q": "a"})) == []
    assert names(run(world, world.bob, {"q": "a"})) == ["Ann"]
    assert names(run(world, world.charlie, {"q": "jos"})) == ["Josef"]


def test_field_filters(world, people):
    admin = world.admin
    assert names(run(world, admin, {"lifecycle_stage": ["lead"]})) == ["Ann", "Bo"]
    assert names(run(world, admin, {"source": "referral"})) == ["Ann"]
    assert names(run(world, admin, {"owner": [world.alice.pk, world.rita.pk]})) == ["Bo", "José"]
    assert names(run(world, admin, {"team": [world.team_b.pk]})) == ["Bo"]
    assert names(run(world, admin, {"score_min": 50})) == ["José"]
    assert names(run(world, admin, {"score_max": 50})) == ["Ann", "Bo"]
    assert names(run(world, admin, {"has_email": "false"})) == ["Bo"]
    assert names(run(world, admin, {"has_phone": "true"})) == ["Bo", "José"]
    assert names(run(world, admin, {"company": people["initech"].pk})) == ["Ann"]
    old = (timezone.now() - datetime.timedelta(days=30)).date().isoformat()
    assert names(run(world, admin, {"created_before": old})) == ["Bo"]
    assert names(run(world, admin, {"created_after": old})) == ["Ann", "José"]
    assert names(run(world, admin, {"sms_consent": "unknown"})) == ["Ann", "Bo", "José"]


def test_tags_any_and_all(world, people):
    vip, hot = people["vip"].pk, people["hot"].pk
    assert names(run(world, world.admin, {"tags": [vip, hot]})) == ["Ann", "José"]
    assert names(run(world, world.admin, {"tags": [vip, hot], "tags_mode": "all"})) == ["José"]


def test_custom_field_filters(world, people):
    assert names(run(world, world.admin, {"cf_lang": "de"})) == ["José"]
    assert names(run(world, world.admin, {"cf_budget_min": 1000})) == ["José"]
    assert names(run(world, world.admin, {"cf_budget_max": 1000})) == ["Ann"]


def test_bad_filter_values_name_the_parameter(world, people):
    f = run(world, world.admin, {"lifecycle_stage": ["bogus"], "score_min": "lots", "cf_nope": "x"})
    assert not f.is_valid()
    assert {"lifecycle_stage", "score_min", "cf_nope"} <= set(f.errors)


def test_another_organizations_ids_are_invalid_choices(world, people):
    foreign_tag = Tag.objects.create(organization=world.other_org, name="Foreign")
    f = run(world, world.admin, {"tags": [foreign_tag.pk], "owner": [world.other_rep.pk]})
    assert not f.is_valid()
    assert {"tags", "owner"} <= set(f.errors)


def test_search_keys_follow_edits_and_primary_company(world):
    contact = create_contact(organization=world.org, data={"first_name": "Zoë", "last_name": "Ødegaard",
                                                           "phone": "+1 415 555 2671"})
    assert (contact.search_name, contact.search_name_rev, contact.phone_digits) == \
        ("zoe odegaard", "odegaard zoe", "14155552671")
    acme = Company.objects.create(organization=world.org, name="Acme")
    other = Company.objects.create(organization=world.org, name="Other")
    ContactCompany.objects.create(organization=world.org, contact=contact, company=other)
    assert Contact.objects.get(pk=contact.pk).company_name == "Other"
    link = ContactCompany.objects.create(organization=world.org, contact=contact, company=acme, is_primary=True)
    assert Contact.objects.get(pk=contact.pk).company_name == "Acme"
    acme.name = "Acme Corp"
    acme.save()
    assert Contact.objects.get(pk=contact.pk).company_name == "Acme Corp"
    link.delete()
    assert Contact.objects.get(pk=contact.pk).company_name == "Other"
    contact.last_name = "Berg"
    contact.save(update_fields=["last_name"])
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.display_name, stored.search_name_rev) == ("Zoë Berg", "berg zoe")


def test_day_ranges_include_the_whole_day_and_use_plain_timestamp_bounds(world):
    late = create_contact(organization=world.org, data={"first_name": "Late"})
    moment = timezone.make_aware(datetime.datetime(2026, 3, 10, 23, 30))
    Contact.objects.filter(pk=late.pk).update(created_at=moment)
    assert names(run(world, world.admin, {"created_before": "2026-03-10", "created_after": "2026-03-10"})) == ["Late"]
    assert names(run(world, world.admin, {"created_before": "2026-03-09"})) == []
    assert names(run(world, world.admin, {"created_after": "2026-03-11"})) == []
    f = run(world, world.admin, {"created_after": "2026-03-10"})
    assert f.is_valid() and "::date" not in str(f.qs.query)


def test_choice_filters_do_not_force_select_distinct(world, people):
    f = run(world, world.admin, {"owner": [world.alice.pk], "team": [world.team_a.pk],
                                 "lifecycle_stage": ["lead"], "source": ["referral"]})
    assert f.is_valid()
    assert "DISTINCT" not in str(f.qs.query)
