"""Sensitive custom fields are encrypted at rest (crm.encryption): raw SQL shows ciphertext, the
ORM, API, pages, export and merge see plaintext; they stay out of the JSONB, the search vector,
the embedding text and the history tables; marking a field sensitive later moves the values."""

from __future__ import annotations

import pytest
from django.db import connection

from companies.models import Company
from contacts import semantic
from contacts.models import Contact
from contacts.services import apply_preset, create_contact, update_contact
from crm.models import CustomFieldDefinition, Job
from tests.conftest import fresh


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    def client_for(user):
        client = APIClient()
        client.force_authenticate(fresh(user))
        return client
    return client_for

NOTES = "Penicillin allergy, asthmatic since 2011"
INSURER = "Blue Harbor Mutual"


def raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def raw_contact(pk):
    [row] = raw("SELECT custom_fields::text, custom_fields_sealed, search_vector::text FROM contacts_contact "
                "WHERE id = %s", [pk])
    return row


def history_text(pk):
    return " ".join(str(r) for r in raw("SELECT custom_fields::text, custom_fields_sealed FROM contacts_contactevent "
                                        "WHERE pgh_obj_id = %s", [pk]))


@pytest.fixture
def healthcare(world):
    apply_preset(world.org, "healthcare")
    return world


def new_patient(world, **custom):
    values = {"date_of_birth": "1980-02-03", "insurance_provider": INSURER, "medical_notes": NOTES, **custom}
    return create_contact(organization=world.org, actor=world.admin,
                          data={"first_name": "Paula", "last_name": "Patient", "industry": "Healthcare",
                                "custom_fields": values})


def test_presets_mark_their_sensitive_fields(healthcare):
    apply_preset(healthcare.org, "legal")
    sensitive = set(CustomFieldDefinition.objects.filter(organization=healthcare.org, sensitive=True)
                    .values_list("key", flat=True))
    assert sensitive == {"medical_notes", "insurance_provider", "attorney_notes"}


def test_sensitive_values_are_ciphertext_in_sql_and_plaintext_through_the_orm(healthcare):
    contact = new_patient(healthcare)
    plain_json, sealed, vector = raw_contact(contact.pk)
    assert NOTES not in plain_json and INSURER not in plain_json and "medical_notes" not in plain_json
    assert "1980-02-03" in plain_json  # not sensitive: stays in the JSONB
    assert sealed.startswith("gAAAAA") and "Penicillin" not in sealed and "Harbor" not in sealed
    assert "penicillin" not in vector.lower() and "harbor" not in vector.lower()
    history = history_text(contact.pk)
    assert history and "Penicillin" not in history and "Harbor" not in history and "gAAAAA" in history
    loaded = Contact.objects.get(pk=contact.pk)
    assert loaded.custom_fields == {"date_of_birth": "1980-02-03", "insurance_provider": INSURER,
                                    "medical_notes": NOTES}


def test_an_unchanged_save_keeps_the_ciphertext_and_writes_no_history(healthcare):
    contact = new_patient(healthcare)
    before = raw_contact(contact.pk)[1]
    events = raw("SELECT count(*) FROM contacts_contactevent WHERE pgh_obj_id = %s", [contact.pk])[0][0]
    loaded = Contact.objects.get(pk=contact.pk)
    loaded.save()
    assert raw_contact(contact.pk)[1] == before
    assert raw("SELECT count(*) FROM contacts_contactevent WHERE pgh_obj_id = %s", [contact.pk])[0][0] == events
    update_contact(contact=loaded, data={"custom_fields": {**loaded.custom_fields, "medical_notes": "Recovered"}})
    assert raw_contact(contact.pk)[1] != before
    assert Contact.objects.get(pk=contact.pk).custom_fields["medical_notes"] == "Recovered"


def test_sensitive_values_are_not_in_the_embedding_text(healthcare):
    CustomFieldDefinition.objects.filter(organization=healthcare.org, key="emergency_contact_name").update(
        sensitive=False)
    contact = new_patient(healthcare, emergency_contact_name="Marta Mendes")
    [(_, _, text)] = semantic.texts_for(semantic.CONTACT, [contact.pk])
    assert "Marta Mendes" in text
    assert NOTES not in text and INSURER not in text


def test_api_and_page_read_and_write_the_plaintext(healthcare, client, api):
    contact = new_patient(healthcare)
    data = api(healthcare.admin).get(f"/api/contacts/{contact.pk}/").json()
    assert data["custom_fields"]["medical_notes"] == NOTES and data["custom_fields"]["insurance_provider"] == INSURER
    response = api(healthcare.admin).patch(f"/api/contacts/{contact.pk}/", {"custom_fields": {
        **data["custom_fields"], "medical_notes": "Now vegan"}}, format="json")
    assert response.status_code == 200, response.content
    assert "Now vegan" not in raw_contact(contact.pk)[1] and "Now vegan" not in raw_contact(contact.pk)[0]
    assert Contact.objects.get(pk=contact.pk).custom_fields["medical_notes"] == "Now vegan"
    client.force_login(healthcare.admin)
    page = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert "Now vegan" in page and INSURER in page


def test_bad_input_in_a_sensitive_field_names_it(healthcare, api):
    contact = new_patient(healthcare)
    response = api(healthcare.admin).patch(f"/api/contacts/{contact.pk}/", {"custom_fields": {
        **contact.custom_fields, "medical_notes": ["not", "text"]}}, format="json")
    assert response.status_code == 400 and "medical_notes" in str(response.json())
    assert Contact.objects.get(pk=contact.pk).custom_fields["medical_notes"] == NOTES


def test_sensitive_fields_cannot_be_filtered(healthcare, api):
    new_patient(healthcare)
    response = api(healthcare.admin).get("/api/contacts/", {"cf_medical_notes": "Penicillin"})
    assert response.status_code == 400
    assert "sensitive" in str(response.json()["cf_medical_notes"])
    response = api(healthcare.admin).post("/api/segments/", {"name": "Allergic", "criteria": {
        "op": "and", "rules": [{"field": "cf_medical_notes", "operator": "contains", "value": "Penicillin"}]}},
        format="json")
    assert response.status_code == 400 and "sensitive" in str(response.json())


def test_export_decrypts_the_sensitive_columns(healthcare):
    from contacts import exports

    contact = new_patient(healthcare)
    definitions = exports.custom_definitions(healthcare.org.pk)
    writer = exports.Writer("csv", ["first_name", "custom:medical_notes", "custom:insurance_provider", "custom:date_of_birth"],
                            definitions, healthcare.org.pk)
    ids, records = writer.fetch(Contact.objects.filter(pk=contact.pk))
    assert ids == [contact.pk] and records == [["Paula", NOTES, INSURER, "1980-02-03"]]


def test_marking_a_field_sensitive_later_moves_values_and_history(healthcare):
    definition = CustomFieldDefinition.objects.get(organization=healthcare.org, key="emergency_contact_name")
    contact = new_patient(healthcare, emergency_contact_name="Marta Mendes")
    other = Contact.objects.create(organization=healthcare.org, first_name="Nobody")
    assert "Marta Mendes" in raw_contact(contact.pk)[0] and "Marta Mendes" in history_text(contact.pk)

    definition.sensitive = True
    definition.save()
    job = Job.objects.filter(organization=healthcare.org, kind="crm.custom_field_sensitivity").get()
    assert job.status == "done" and job.succeeded == 1 and job.progress == 100
    assert "Marta Mendes" not in raw_contact(contact.pk)[0]
    assert "Marta Mendes" not in history_text(contact.pk)
    assert Contact.objects.get(pk=contact.pk).custom_fields["emergency_contact_name"] == "Marta Mendes"
    assert raw_contact(other.pk)[1] is None

    definition.sensitive = False
    definition.save()
    assert "Marta Mendes" in raw_contact(contact.pk)[0]
    assert "Marta Mendes" not in (raw_contact(contact.pk)[1] or "")
    assert Contact.objects.get(pk=contact.pk).custom_fields["emergency_contact_name"] == "Marta Mendes"


def test_company_custom_fields_can_be_sensitive(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="company", key="bank_account",
                                         label="Bank account", field_type="text", sensitive=True)
    company = Company(organization=world.org, name="Initech", custom_fields={"bank_account": "DE89 3704 0044"})
    company.full_clean()
    company.save()
    [(plain, sealed)] = raw("SELECT custom_fields::text, custom_fields_sealed FROM companies_company WHERE id = %s",
                            [company.pk])
    assert "3704" not in plain and "3704" not in sealed
    assert Company.objects.get(pk=company.pk).custom_fields == {"bank_account": "DE89 3704 0044"}


def test_bulk_edit_and_merge_keep_sensitive_values_encrypted(healthcare):
    from contacts import merge as merging

    first = new_patient(healthcare)
    second = create_contact(organization=healthcare.org, actor=healthcare.admin,
                            data={"first_name": "Paula", "last_name": "Patient", "email": "paula@example.com"})
    merging.merge(fresh(healthcare.admin), "contact", second.pk, [first.pk])
    survivor = Contact.objects.get(pk=second.pk)
    assert survivor.custom_fields.get("medical_notes") == NOTES
    plain, sealed, _ = raw_contact(survivor.pk)
    assert NOTES not in plain and sealed and "Penicillin" not in sealed


def test_history_shows_sensitive_changes_decrypted_to_who_may_see_them(healthcare, client):
    from crm.audit import describe_history

    contact = new_patient(healthcare)
    update_contact(contact=Contact.objects.get(pk=contact.pk), data={"custom_fields": {
        **contact.custom_fields, "medical_notes": "Recovered"}})
    [change] = [c for entry in describe_history(contact) for c in entry["changes"]
                if c["field"] == "custom_fields_sealed"]
    assert NOTES in change["old"] and "Recovered" in change["new"] and "gAAAA" not in change["new"]


def test_migration_marks_existing_preset_fields_sensitive_and_moves_their_values(world):
    import importlib

    from django.db.migrations.executor import MigrationExecutor

    definition = CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="medical_notes",
                                                      label="Medical notes", field_type="textarea")
    CustomFieldDefinition.objects.filter(pk=definition.pk).update(sensitive=False)
    contact = Contact.objects.create(organization=world.org, first_name="Old", custom_fields={"medical_notes": NOTES})
    assert NOTES in raw_contact(contact.pk)[0] and NOTES in history_text(contact.pk)  # as before this change

    migration = importlib.import_module("contacts.migrations.0016_preset_fields_sensitive")
    # The data step runs on the schema as it is now (later migrations changed other columns).
    loader = MigrationExecutor(connection).loader
    state = loader.project_state([node for node in loader.graph.leaf_nodes() if node[0] == "contacts"])
    migration.forwards(state.apps, None)
    assert CustomFieldDefinition.objects.get(pk=definition.pk).sensitive
    assert NOTES not in raw_contact(contact.pk)[0] and NOTES not in history_text(contact.pk)
    assert Contact.objects.get(pk=contact.pk).custom_fields == {"medical_notes": NOTES}


def test_import_and_bulk_edit_store_sensitive_values_encrypted(healthcare):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts import bulk, imports

    user = fresh(healthcare.admin)
    text = ("First Name,Email,Industry,Date of birth,Insurance provider,Medical notes\n"
            f"Ines,ines@example.com,Healthcare,1990-01-01,{INSURER},\"{NOTES}\"\n")
    imp = imports.upload(user, SimpleUploadedFile("patients.csv", text.encode()))
    imp = imports.configure(imp, user, mapping=["first_name", "email", "industry", "custom:date_of_birth",
                                                "custom:insurance_provider", "custom:medical_notes"])
    assert imp.stage == "previewed", (imp.error, imp.mapping)
    assert imp.preview["counts"] == {"created": 1}, imp.preview
    imp = imports.start_import(imp, user)
    assert imp.counts == {"created": 1}, (imp.counts, imp.error)
    contact = Contact.objects.get(organization=healthcare.org, first_name="Ines")
    assert contact.custom_fields["medical_notes"] == NOTES and contact.custom_fields["insurance_provider"] == INSURER
    plain, sealed, _ = raw_contact(contact.pk)
    assert NOTES not in plain and INSURER not in plain and "Penicillin" not in sealed
    assert "Penicillin" not in history_text(contact.pk)

    job = bulk.start(user, action="set_custom_field", params={"key": "medical_notes", "value": "Vaccinated"},
                     ids=[contact.pk])
    assert job.status == "done", job.error
    contact = Contact.objects.get(pk=contact.pk)
    assert contact.custom_fields["medical_notes"] == "Vaccinated" and contact.custom_fields["insurance_provider"] == INSURER
    plain, sealed, _ = raw_contact(contact.pk)
    assert "Vaccinated" not in plain and "Vaccinated" not in sealed and INSURER not in plain


def test_admin_marks_a_field_sensitive_through_the_api(healthcare, api):
    definition = CustomFieldDefinition.objects.get(organization=healthcare.org, key="emergency_contact_name")
    contact = new_patient(healthcare, emergency_contact_name="Marta Mendes")
    url = f"/api/custom-fields/{definition.pk}/"
    assert api(healthcare.manager_a).patch(url, {"sensitive": True}, format="json").status_code == 403
    assert api(healthcare.charlie).patch(url, {"sensitive": True}, format="json").status_code == 404
    assert "Marta Mendes" in raw_contact(contact.pk)[0]
    response = api(healthcare.admin).patch(url, {"sensitive": True}, format="json")
    assert response.status_code == 200 and response.json()["sensitive"] is True
    assert "Marta Mendes" not in raw_contact(contact.pk)[0]
    assert Contact.objects.get(pk=contact.pk).custom_fields["emergency_contact_name"] == "Marta Mendes"


def test_company_values_move_when_their_field_becomes_sensitive(world):
    definition = CustomFieldDefinition.objects.create(organization=world.org, model="company", key="bank_account",
                                                      label="Bank account", field_type="text")
    company = Company(organization=world.org, name="Initech", custom_fields={"bank_account": "DE89 3704 0044"})
    company.full_clean()
    company.save()
    definition.sensitive = True
    definition.save()
    [(plain, sealed)] = raw("SELECT custom_fields::text, custom_fields_sealed FROM companies_company WHERE id = %s",
                            [company.pk])
    history = raw("SELECT custom_fields::text FROM companies_companyevent WHERE pgh_obj_id = %s", [company.pk])
    assert "3704" not in plain and sealed and all("3704" not in text for (text,) in history)
    assert Company.objects.get(pk=company.pk).custom_fields == {"bank_account": "DE89 3704 0044"}
