"""Nothing that references a contact or company is forgotten by a merge: every relation (and
every column named like a reference) must be listed in contacts.merge, or these tests fail."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models

from companies.models import Company
from contacts import merge as merging
from contacts.models import Contact


def test_every_relation_to_contacts_and_companies_is_handled():
    missing = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields(include_hidden=True):
            if field.is_relation and field.concrete and field.related_model in (Contact, Company):
                label = f"{model._meta.label}.{field.name}"
                if merging.relation_strategy(model, label) is None:
                    missing.append(label)
    assert missing == [], f"add these to contacts.merge.RELATIONS: {missing}"
    merging.relations_of(Contact)
    merging.relations_of(Company)


def test_every_id_column_that_may_reference_a_record_is_handled():
    suspicious = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation:
                continue
            name = field.name
            if (name.endswith(("contact_id", "company_id", "_ids")) or name in ("object_id", "object_pk",
                                                                                    "survivor_id")
                    or (name == "url" and isinstance(field, models.CharField))):
                label = f"{model._meta.label}.{name}"
                if label not in merging.ID_COLUMNS:
                    suspicious.append(label)
    assert suspicious == [], f"say in contacts.merge.ID_COLUMNS how a merge treats {suspicious}"


def test_a_relation_missing_from_the_registry_stops_the_merge(world, monkeypatch):
    from contacts.services import create_contact
    from tests.conftest import fresh

    monkeypatch.delitem(merging.RELATIONS, "messaging.Message.contact")
    a = create_contact(organization=world.org, data={"first_name": "A"})
    b = create_contact(organization=world.org, data={"first_name": "B"})
    with pytest.raises(RuntimeError, match="messaging.Message.contact"):
        merging.merge(fresh(world.admin), "contact", a.pk, [b.pk])
    assert Contact.objects.filter(pk=b.pk).exists()
