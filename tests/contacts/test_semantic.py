"""Embeddings kept fresh (trigger + worker functions), the backfill job, nearest-neighbour search
with visibility inside the query, hybrid search with reasons, and similar contacts."""

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from companies.models import Company
from contacts import semantic
from contacts.filters import ContactFilter
from contacts.models import Contact
from contacts.search import ranked_search, similar_contacts
from contacts.services import create_contact, set_tags, update_contact
from crm.models import CustomFieldDefinition, Job, Tag
from tests.conftest import fresh

pytestmark = pytest.mark.django_db

CTO = {"first_name": "Ana", "last_name": "Souza", "job_title": "Chief Technology Officer",
       "industry": "Financial services", "description": "Runs engineering at a card payments startup."}
FLORIST = {"first_name": "Bea", "last_name": "Bloom", "job_title": "Owner", "industry": "Retail",
           "description": "Flower shop selling wedding bouquets."}
BAKER = {"first_name": "Carl", "last_name": "Crumb", "job_title": "Head baker", "industry": "Food",
         "description": "Sourdough bakery."}


def add(world, data, owner=None, org=None, team=None):
    org = org or world.org
    return create_contact(organization=org, data={**data, "owner": owner, "team": team})


def stored(contact):
    return Contact.all_objects.filter(pk=contact.pk).values_list("embedding", flat=True).get()


@pytest.fixture
def people(world):
    found = {
        "cto": add(world, CTO, world.alice, team=world.team_a),
        "florist": add(world, FLORIST, world.alice, team=world.team_a),
        "baker": add(world, BAKER, world.bob, team=world.team_a),
        # The semantically perfect matches the rep and the other organization must never see:
        "rita_cto": add(world, {**CTO, "first_name": "Rui"}, world.rita, team=world.team_b),
        "other_cto": add(world, {**CTO, "first_name": "Olga"}, world.other_rep, org=world.other_org),
    }
    semantic.embed_pending()
    return found


# --- what is embedded, and when ------------------------------------------------------------------

def test_text_holds_name_work_company_industry_tags_notes_and_custom_text(world):
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="hobby", label="Hobby",
                                         field_type="text")
    CustomFieldDefinition.objects.create(organization=world.org, model="contact", key="seats", label="Seats",
                                         field_type="number")
    contact = create_contact(organization=world.org, data={
        **CTO, "department": "Engineering", "custom_fields": {"hobby": "sailing", "seats": 12}})
    Contact.objects.filter(pk=contact.pk).update(company_name="Pagato")
    set_tags(contact, [Tag.objects.create(organization=world.org, name="vip")])
    [(_, _, text)] = semantic.texts_for(semantic.CONTACT, [contact.pk])
    assert text == ("Ana Souza. Chief Technology Officer, Engineering at Pagato. Industry: Financial services. "
                    "Tags: vip. Runs engineering at a card payments startup. sailing")
    assert "12" not in text


def test_new_contacts_are_pending_until_the_worker_embeds_them(world):
    contact = add(world, CTO)
    assert stored(contact) is None
    assert semantic.embed_pending() == 1
    vector = np.asarray(stored(contact))
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-3
    assert semantic.embed_pending() == 0  # nothing left to do


def test_a_change_to_the_text_clears_the_embedding_and_other_changes_keep_it(world):
    contact = add(world, CTO)
    semantic.embed_pending()
    update_contact(contact=contact, data={"source": "referral", "lifecycle_stage": "customer"})
    assert stored(contact) is not None
    update_contact(contact=contact, data={"job_title": "CFO"})
    assert stored(contact) is None
    semantic.embed_pending()
    # a bulk writer that bypasses save() is caught by the trigger too
    Contact.objects.filter(pk=contact.pk).update(description="Now runs a bakery")
    assert stored(contact) is None


def test_adding_or_removing_a_tag_clears_the_embedding(world):
    contact = add(world, CTO)
    semantic.embed_pending()
    tag = Tag.objects.create(organization=world.org, name="investor")
    set_tags(contact, [tag])
    assert stored(contact) is None
    semantic.embed_pending()
    assert "Tags: investor" in semantic.texts_for(semantic.CONTACT, [contact.pk])[0][2]
    set_tags(contact, [])
    assert stored(contact) is None


def test_a_row_changed_while_being_embedded_is_not_given_the_old_vector(world):
    contact = add(world, CTO)
    [(pk, seen, _)] = semantic.texts_for(semantic.CONTACT, [contact.pk])
    Contact.objects.filter(pk=pk).update(job_title="Florist")  # an edit lands between read and write
    with connection.cursor() as cursor:
        cursor.execute("UPDATE contacts_contact SET embedding = %s::vector WHERE id = %s AND xmin::text = %s",
                       ["[" + ",".join(["0.05"] * 384) + "]", pk, seen])
        assert cursor.rowcount == 0
    assert stored(contact) is None  # still pending: the next round embeds the new text
    assert semantic.embed_pending() == 1


def test_companies_are_embedded_and_refreshed(world):
    company = Company.objects.create(organization=world.org, name="Pagato", industry="Payments",
                                     description="Card acquiring for small shops")
    semantic.embed_pending()
    assert Company.all_objects.get(pk=company.pk).embedding is not None
    company.description = "Bakery chain"
    company.save()
    assert Company.all_objects.get(pk=company.pk).embedding is None


def test_deleted_contacts_are_not_embedded(world):
    contact = add(world, CTO)
    Contact.objects.filter(pk=contact.pk).update(deleted_at="2026-01-01T00:00Z")
    assert semantic.embed_pending() == 0


# --- backfill job and command ----------------------------------------------------------------

def test_backfill_job_embeds_an_organization_in_batches_with_progress(world, monkeypatch):
    monkeypatch.setattr(semantic, "BATCH", 2)
    for i in range(5):
        add(world, {**BAKER, "first_name": f"Baker{i}"})
    Company.objects.create(organization=world.org, name="Crumbs Ltd")
    other = add(world, CTO, org=world.other_org)
    seen = []
    job = semantic.start_backfill(world.org.pk, queue=False)
    assert job.total == 6
    job = semantic.run_backfill(job.pk, progress=lambda j: seen.append((j.checkpoint["kind"], j.processed)))
    assert job.status == Job.Status.DONE and job.succeeded == 6 and job.processed == 6
    assert seen[:3] == [("contact", 2), ("contact", 4), ("contact", 5)]
    assert stored(other) is None  # another organization's job, not this one
    assert Contact.objects.filter(organization=world.org, embedding__isnull=True).count() == 0


def test_backfill_resumes_from_its_checkpoint(world, monkeypatch):
    monkeypatch.setattr(semantic, "BATCH", 2)
    contacts = [add(world, {**BAKER, "first_name": f"Baker{i}"}) for i in range(4)]
    job = semantic.start_backfill(world.org.pk, queue=False)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING,
                                         checkpoint={"kind": "contact", "after": [world.org.pk, contacts[1].pk]})
    semantic.run_backfill(job.pk)
    assert [stored(c) is None for c in contacts] == [True, True, False, False]


def test_embed_command_rebuilds_and_reports(world, capsys):
    contact = add(world, CTO)
    semantic.embed_pending()
    before = np.asarray(stored(contact))
    call_command("embed", organization=world.org.slug, rebuild=True)
    out = capsys.readouterr().out
    assert f"{world.org.slug}: embedded 1 of 1" in out
    assert np.allclose(np.asarray(stored(contact)), before, atol=1e-5)


def test_embed_command_names_an_unknown_organization(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match='No organization with the slug "nope"'):
        call_command("embed", organization="nope")


# --- nearest neighbours --------------------------------------------------------------------------

def test_nearest_orders_by_meaning_within_the_queryset(world, people):
    query = semantic.embed_query("payments startup CTO")
    found = semantic.nearest(Contact.objects.visible_to(fresh(world.admin)), query, 10)
    assert {pk for pk, _ in found[:2]} == {people["cto"].pk, people["rita_cto"].pk}
    assert len(found) == 4
    assert all(a[1] <= b[1] for a, b in zip(found, found[1:]))
    assert people["other_cto"].pk not in {pk for pk, _ in found}


def test_hnsw_and_exact_search_agree(world, people):
    query = semantic.embed_query("bakery owner")
    visible = Contact.objects.visible_to(fresh(world.admin))
    assert [pk for pk, _ in semantic.nearest(visible, query, 4)] == \
        [pk for pk, _ in semantic.nearest(visible, query, 4, exact=True)]


def test_a_filter_smaller_than_k_still_returns_every_match(world, people):
    only_bob = Contact.objects.visible_to(fresh(world.admin)).filter(owner=world.bob)
    assert [pk for pk, _ in semantic.nearest(only_bob, semantic.embed_query("anything"), 10)] == [people["baker"].pk]


# --- hybrid search -------------------------------------------------------------------------------

def test_semantic_search_finds_by_meaning_without_shared_words(world, people):
    hits = ranked_search(fresh(world.alice), "payments startup CTO", mode="semantic", limit=3)
    assert hits[0].contact.pk == people["cto"].pk
    assert hits[0].reasons == [f"close in meaning to 'payments startup CTO' ({hits[0].similarity:.2f})"]


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "text"])
def test_a_perfect_match_from_another_team_or_organization_never_appears(world, people, mode):
    for user in (world.alice, world.manager_a, world.viewer_a):
        found = {hit.contact.pk for hit in ranked_search(fresh(user), "Chief Technology Officer payments",
                                                         mode=mode, limit=50)}
        assert people["rita_cto"].pk not in found and people["other_cto"].pk not in found
    found = {hit.contact.pk for hit in ranked_search(fresh(world.charlie), "Chief Technology Officer", mode=mode)}
    assert found <= {people["other_cto"].pk}


def test_hybrid_explains_word_and_meaning_matches(world, people):
    hits = ranked_search(fresh(world.alice), "payments", mode="hybrid")
    top = hits[0]
    assert top.contact.pk == people["cto"].pk
    assert "matched 'payments' in notes" in top.reasons
    assert any(reason.startswith("close in meaning to 'payments'") for reason in top.reasons)


def test_hybrid_finds_a_typo_in_a_name(world, people):
    hits = ranked_search(fresh(world.admin), "Anna Souza", mode="hybrid")
    assert hits[0].contact.pk == people["cto"].pk
    assert any(reason.startswith("name similar to 'Anna Souza'") for reason in hits[0].reasons)


def test_filters_apply_inside_the_search(world, people):
    update_contact(contact=people["baker"], data={"lifecycle_stage": "customer"})
    filterset = ContactFilter({"lifecycle_stage": ["customer"]}, request=None,
                              queryset=Contact.objects.visible_to(fresh(world.admin)))
    assert filterset.is_valid(), filterset.errors
    hits = ranked_search(fresh(world.admin), "owner of a bakery", queryset=filterset.qs, mode="hybrid")
    assert [hit.contact.pk for hit in hits] == [people["baker"].pk]
    assert ranked_search(fresh(world.admin), "payments startup CTO", queryset=filterset.qs, mode="hybrid") == []


def test_unrelated_neighbours_are_not_listed(world, people):
    hits = ranked_search(fresh(world.alice), "payments startup CTO", mode="semantic")
    assert [hit.contact.pk for hit in hits] == [people["cto"].pk]  # not the florist (alice's other contact)
    assert hits[0].similarity >= 0.15


@pytest.mark.parametrize("text", ["Соколова кардиолог", "北京软件工程师", "🙂", "x" * 10_000])
def test_other_scripts_and_odd_queries_give_results_not_errors(world, people, text):
    hits = ranked_search(fresh(world.admin), text, mode="hybrid")
    assert all(hit.contact.organization_id == world.org.pk for hit in hits)


def test_empty_query_finds_nothing(world, people):
    assert ranked_search(fresh(world.admin), "   ", mode="hybrid") == []


def test_query_count_does_not_grow_with_results(world, people, django_assert_max_num_queries):
    for i in range(30):
        add(world, {**CTO, "first_name": f"Clone{i}"})
    semantic.embed_pending()
    # bounded by the words typed (typo corrections), never by the results
    with django_assert_max_num_queries(18):
        hits = ranked_search(fresh(world.admin), "Ana payments", mode="hybrid", limit=20)
    assert len(hits) == 20


# --- similar contacts ----------------------------------------------------------------------------

def test_similar_contacts_are_visible_ones_closest_in_meaning(world, people):
    similar = similar_contacts(fresh(world.alice), people["cto"], 5)
    assert [item.contact.pk for item in similar] == [people["florist"].pk]  # alice owns only these two
    similar = similar_contacts(fresh(world.admin), people["cto"], 5)
    assert similar[0].contact.pk == people["rita_cto"].pk and similar[0].similarity > 0.8
    assert people["other_cto"].pk not in {item.contact.pk for item in similar}


def test_similar_is_empty_until_embedded(world):
    contact = add(world, CTO)
    assert similar_contacts(fresh(world.admin), contact) == []


def test_rebuild_re_embeds_everything_and_keeps_old_vectors_until_then(world, monkeypatch):
    monkeypatch.setattr(semantic, "BATCH", 1)
    first, second = add(world, CTO), add(world, BAKER)
    semantic.embed_pending()
    job = semantic.start_backfill(world.org.pk, rebuild=True, queue=False)
    assert job.total == 2
    # before the job runs, both are still searchable
    assert Contact.objects.filter(pk__in=[first.pk, second.pk], embedding__isnull=False).count() == 2
    job = semantic.run_backfill(job.pk)
    assert job.status == Job.Status.DONE and job.succeeded == 2
