"""Django admin: every model's pages work with a bounded number of queries, and
staff who are not superusers see their own organization only (others: 404)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from activities.models import Activity, Notification
from companies.models import Company
from contacts import bulk
from contacts.models import (
    AssignmentRule, ConsentEvent, FormLayout, FormLayoutField, Contact, ContactCompany, ContactRelationship, ContactTag, ContactUserLink,
)
from crm.models import CustomFieldDefinition, Organization, Tag, Team, User
from messaging.models import Message, MessagingSettings, SmsTemplate

pytestmark = pytest.mark.django_db

OUR_APPS = {"crm", "contacts", "companies", "activities", "messaging"}


def populate(org, owner, marker, n=3):
    """n rows of every model in `org`, each named with `marker` so leaks are visible."""
    team = Team.objects.create(organization=org, name=f"{marker} team")
    tag = Tag.objects.create(organization=org, name=f"{marker} tag")
    definition = CustomFieldDefinition.objects.create(organization=org, model="contact",
                                                      key=f"{marker.lower()}_field", label=f"{marker} field",
                                                      field_type="text")
    layout = FormLayout.objects.create(organization=org, industry=f"{marker} industry")
    FormLayoutField.objects.create(organization=org, layout=layout, definition=definition, required=True)
    AssignmentRule.objects.create(organization=org, name=f"{marker} rule", team=team, industry=f"{marker} industry")
    parent = Company.objects.create(organization=org, name=f"{marker} parent co", owner=owner)
    contacts = []
    for i in range(n):
        company = Company.objects.create(organization=org, name=f"{marker} company {i}", parent=parent, owner=owner)
        contact = Contact.objects.create(organization=org, first_name=f"{marker}{i}", owner=owner, team=team,
                                         email=f"{marker.lower()}{i}@example.com")
        ContactTag.objects.create(organization=org, contact=contact, tag=tag)
        ContactCompany.objects.create(organization=org, contact=contact, company=company, is_primary=True)
        ConsentEvent.objects.create(organization=org, contact=contact, channel="sms", status="granted",
                                    source="manual", actor=owner)
        ContactUserLink.objects.create(organization=org, contact=contact, user=owner, role="account_manager")
        Activity.objects.create(organization=org, contact=contact, company=company, type="call", actor=owner,
                                subject=f"{marker} call {i}")
        Notification.objects.create(organization=org, recipient=owner, kind="task_due", title=f"{marker} due {i}")
        Message.objects.create(organization=org, contact=contact, to_number=f"+1415555{i:04d}",
                               body=f"{marker} text {i}", actor=owner)
        if contacts:
            ContactRelationship.objects.create(organization=org, from_contact=contact, to_contact=contacts[-1],
                                               type="colleague")
        contacts.append(contact)
    from contacts.models import CompanyDuplicate, ContactDuplicate, SavedView, Segment

    ContactDuplicate.objects.create(organization=org, first=contacts[0], second=contacts[1], score=0.9,
                                    reasons=["same phone"])
    CompanyDuplicate.objects.create(organization=org, first=parent, second=contacts[0].companies.get(), score=0.8,
                                    reasons=["same domain"])

    Segment.objects.create(organization=org, name=f"{marker} segment", created_by=owner,
                           criteria={"op": "and", "rules": [{"field": "score", "operator": "gte", "value": 1}]})
    SavedView.objects.create(organization=org, name=f"{marker} view", user=owner)
    # Lead scoring: the weights, and a score history row per contact (each has a call).
    from contacts import scoring
    from contacts.models import ScoringModel

    ScoringModel.objects.update_or_create(organization=org, defaults={"target_industries": [f"{marker} industry"]})
    scoring.recompute(org.pk, [c.pk for c in contacts], reason="change")
    MessagingSettings.objects.update_or_create(organization=org, defaults={"help_text": f"{marker} help"})
    SmsTemplate.objects.create(organization=org, name=f"{marker} template", body="Hi {{first_name}}")
    # A bulk operation: a job and its rows.
    bulk.start(owner, action="set_stage", params={"lifecycle_stage": "sql"}, ids=[c.pk for c in contacts])
    # An import with its rows and a saved mapping.
    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts import imports

    upload = SimpleUploadedFile(f"{marker}.csv", f"First Name,Email\n{marker} import,{marker.lower()}-i@example.com\n"
                                .encode())
    imp = imports.upload(owner, upload)
    imp = imports.configure(imp, owner, mapping=imp.mapping, save_as=f"{marker} mapping")
    imports.start_import(imp, owner)
    # A merge of two more contacts, undone (so no contact stays in the trash).
    from contacts import merge as merging

    twins = [Contact.objects.create(organization=org, first_name=f"{marker} twin {i}", owner=owner, team=team)
             for i in range(2)]
    merging.undo(owner, merging.merge(owner, "contact", twins[0].pk, [twins[1].pk]))
    # Privacy: a request in the log and an erased person's tombstone.
    from contacts.models import ErasureTombstone, PrivacyRequest

    PrivacyRequest.objects.create(organization=org, kind="export", contact_id=contacts[0].pk, requested_by=owner)
    ErasureTombstone.objects.create(organization=org, kind="email", digest=f"{marker.lower():0>64}"[-64:])
    # Webhooks: an endpoint and one delivery in its log.
    from crm import webhooks
    from crm.models import WebhookDelivery, WebhookEvent

    endpoint = webhooks.create_endpoint(organization_id=org.pk, url=f"http://127.0.0.1:9/{marker.lower()}",
                                        event_types=["contact.updated"], description=f"{marker} hook")
    event = WebhookEvent.objects.create(organization=org, type="contact.updated", object_type="contact",
                                        object_id=contacts[0].pk, payload={"object": {"id": contacts[0].pk}})
    WebhookDelivery.objects.create(organization=org, endpoint=endpoint, event=event)
    return contacts


@pytest.fixture
def data(world):
    populate(world.org, world.alice, "Acme")
    populate(world.other_org, world.other_rep, "Globex")
    return world


def registered_models():
    return [m for m in admin.site._registry if m._meta.app_label in OUR_APPS]


def test_every_domain_model_has_an_admin():
    from django.apps import apps

    missing = [m._meta.label for app in OUR_APPS for m in apps.get_app_config(app).get_models()
               if m not in admin.site._registry and not m._meta.label.endswith("Event")
               and m._meta.label not in ("contacts.ContactUserObjectPermission",
                                         "contacts.DedupeBlock",  # a running scan's scratch rows
                                         "contacts.ScorePending")]  # the scoring queue
    assert missing == []


@pytest.fixture
def superuser(data):
    return User.objects.create_superuser("root@kith.test", "x")


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_changelist_query_count_is_bounded(client, data, superuser, model, django_assert_max_num_queries):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    # Users and organizations are platform staff's; org admins manage members through memberships.
    platform_only = model in (User, Organization)
    if platform_only:
        client.force_login(data.admin)
        assert client.get(url).status_code == 403
    for user in (superuser,) if platform_only else (superuser, data.admin):
        client.force_login(user)
        with django_assert_max_num_queries(16):
            response = client.get(url)
        assert response.status_code == 200, (user, response.status_code)
        with django_assert_max_num_queries(16):
            assert client.get(url + "?q=a").status_code == 200


def test_query_count_does_not_grow_with_rows(client, data, django_assert_max_num_queries):
    client.force_login(data.admin)
    url = reverse("admin:contacts_contact_changelist")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    populate(data.org, data.bob, "More", n=12)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_org_staff_see_only_their_organization(client, data, model):
    client.force_login(data.admin)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url)
    assert response.status_code in (200, 403)
    body = response.content.decode()
    assert "Globex" not in body and "globex" not in body
    foreign = model._default_manager.model.objects if model is not Contact else Contact.all_objects
    if model is Organization:
        foreign_obj = data.other_org
    elif model is User:
        foreign_obj = data.other_rep
    else:
        foreign_obj = foreign.filter(organization=data.other_org).first()
    assert foreign_obj is not None
    for view in ("change", "history", "delete"):
        if model is Organization and view == "delete" or model is User and view == "delete":
            continue
        response = client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}",
                                      args=[foreign_obj.pk]))
        assert response.status_code == 404, (view, response.status_code)


def test_org_staff_can_open_their_own_objects_and_history(client, data):
    client.force_login(data.admin)
    contact = Contact.objects.filter(organization=data.org).first()
    assert client.get(reverse("admin:contacts_contact_change", args=[contact.pk])).status_code == 200
    history = client.get(reverse("admin:contacts_contact_history", args=[contact.pk]))
    assert history.status_code == 200
    assert b"insert" in history.content


def test_autocomplete_is_scoped_to_the_organization(client, data):
    client.force_login(data.admin)
    response = client.get(reverse("admin:autocomplete"), {
        "app_label": "contacts", "model_name": "contacttag", "field_name": "tag", "term": ""})
    assert response.status_code == 200
    names = [r["text"] for r in response.json()["results"]]
    assert names == ["Acme tag"]


def test_org_staff_create_contact_in_their_organization_with_a_scoped_owner_choice(client, data):
    client.force_login(data.admin)
    add_url = reverse("admin:contacts_contact_add")
    page = client.get(add_url).content.decode()
    assert "Olga Other" not in page and "Globex team" not in page
    form = {"first_name": "Zed", "email": "ZED@example.com", "lifecycle_stage": "lead", "score": 5,
            "preferred_contact_time": "any", "owner": data.other_rep.pk,
            "contacttag_set-TOTAL_FORMS": 0, "contacttag_set-INITIAL_FORMS": 0,
            "company_links-TOTAL_FORMS": 0, "company_links-INITIAL_FORMS": 0}
    response = client.post(add_url, form)
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not Contact.objects.filter(first_name="Zed").exists()
    form["owner"] = data.bob.pk
    response = client.post(add_url, form)
    assert response.status_code == 302
    zed = Contact.objects.get(first_name="Zed")
    assert zed.organization == data.org and zed.email == "zed@example.com" and zed.created_by == data.admin
    # A duplicate email is an error on the email field, nothing stored.
    form["first_name"] = "Zed Two"
    response = client.post(add_url, form)
    assert b"A contact with this email already exists in your organization." in response.content
    assert not Contact.objects.filter(first_name="Zed Two").exists()


def test_admin_export_contains_only_own_organization(client, data):
    client.force_login(data.admin)
    response = client.post(reverse("admin:contacts_contact_export"), {"format": "0", "resource": "0",
                                                                      "contactresource_id": "on",
                                                                      "contactresource_first_name": "on",
                                                                      "contactresource_email": "on"})
    assert response.status_code == 200, response.content[:500]
    body = response.content.decode()
    assert "acme0@example.com" in body and "globex" not in body.lower()


def test_admin_import_is_scoped_and_validated(client, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(data.admin)
    foreign_team = Team.objects.get(organization=data.other_org, name="Globex team")
    csv = ("first_name,email,phone,team\n"
           f"Nia,nia@example.com,+14155552671,{foreign_team.pk}\n").encode()
    response = client.post(reverse("admin:contacts_contact_import"), {
        "resource": "0", "format": "0",
        "import_file": SimpleUploadedFile("c.csv", csv, content_type="text/csv")})
    assert response.status_code == 200
    assert not Contact.objects.filter(first_name="Nia").exists()
    assert b"team" in response.content.lower()
    csv = b"first_name,email,phone\nNia,nia@example.com,(415) 555-2672\nBad,bad@example.com,12\n"
    response = client.post(reverse("admin:contacts_contact_import"), {
        "resource": "0", "format": "0",
        "import_file": SimpleUploadedFile("c.csv", csv, content_type="text/csv")})
    assert response.status_code == 200
    assert b"phone" in response.content.lower()
    assert not Contact.objects.filter(first_name__in=["Nia", "Bad"]).exists()


def test_non_staff_member_cannot_use_the_admin(client, data):
    client.force_login(data.alice)
    response = client.get(reverse("admin:contacts_contact_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", [Contact, Company])
def test_admin_trash_and_restore_actions(client, data, model):
    """Back-office staff move rows to the trash and back through the same services as the
    pages; another organization's ids in the selection are not touched."""
    client.force_login(data.admin)
    ours = list(model.objects.filter(organization=data.org).order_by("pk").values_list("pk", flat=True)[:2])
    theirs = model.objects.filter(organization=data.other_org).values_list("pk", flat=True).first()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.post(url, {"action": "move_to_trash", "_selected_action": [*ours, theirs]}, follow=True)
    assert response.status_code == 200
    assert set(model.all_objects.filter(deleted_at__isnull=False).values_list("pk", flat=True)) == set(ours)
    trash = client.get(url, {"status": "deleted"})
    assert trash.status_code == 200 and len(trash.context["cl"].result_list) == 2
    client.post(url, {"action": "restore", "_selected_action": ours}, follow=True)
    assert not model.all_objects.filter(deleted_at__isnull=False).exists()


@pytest.mark.parametrize("model", [Contact, Company])
def test_admin_delete_moves_to_the_trash(client, data, model):
    """The change page's Delete keeps the row (and what hangs off it) in the trash."""
    client.force_login(data.admin)
    obj = model.objects.filter(organization=data.org).first()
    activities = Activity.objects.filter(**{model._meta.model_name: obj}).count()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_delete", args=[obj.pk])
    response = client.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert model.all_objects.get(pk=obj.pk).deleted_at is not None
    assert Activity.objects.filter(**{model._meta.model_name: obj}).count() == activities
    changelist = client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    assert "delete_selected" not in changelist.content.decode()
