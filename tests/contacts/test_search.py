import pytest

from companies.models import Company
from contacts.models import Contact, ContactCompany
from contacts.search import RANK_CANDIDATES, autocomplete, full_text, to_tsquery
from contacts.services import create_contact, set_tags
from crm.models import Tag
from tests.conftest import fresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(world):
    initech = Company.objects.create(organization=world.org, name="Initech Ærø")
    people = {}
    for first, last, owner, extra in [
        ("Jonathan", "Smith", world.alice, {"email": "jon@initech.test", "phone": "+1 (415) 555-2671",
                                            "job_title": "Payments engineer", "description": "Loves fintech"}),
        ("Joanna", "Müller", world.alice, {"email": "jo@example.com", "job_title": "CFO"}),
        ("Björn", "Jonsson", world.bob, {"email": "bjorn@example.com"}),
        ("Zoë", "Smythe", world.rita, {}),
    ]:
        people[first] = create_contact(organization=world.org,
                                       data={"first_name": first, "last_name": last, "owner": owner,
                                             "team": world.team_a if owner != world.rita else world.team_b, **extra})
    ContactCompany.objects.create(organization=world.org, contact=people["Jonathan"], company=initech,
                                  is_primary=True)
    create_contact(organization=world.other_org, data={"first_name": "Jonas", "last_name": "Other"})
    Company.objects.create(organization=world.other_org, name="Initrode")
    return people


def labels(hits):
    return [(h.kind, h.label, h.how) for h in hits]


def test_autocomplete_from_the_first_keystroke(world, crowd):
    hits = autocomplete(fresh(world.admin), "j")
    contact_labels = [label for kind, label, _ in labels(hits) if kind == "contact"]
    assert "Jonathan Smith (Initech Ærø)" in contact_labels
    assert {"Joanna Müller", "Björn Jonsson"} <= set(contact_labels)  # last name "Jonsson" matches too
    assert not any("Jonas" in label for label in contact_labels)


def test_autocomplete_accent_case_phone_email_and_company(world, crowd):
    admin = fresh(world.admin)
    assert [h.label for h in autocomplete(admin, "MULL")] == ["Joanna Müller"]
    assert [h.label for h in autocomplete(admin, "bjorn j")] == ["Björn Jonsson"]
    assert [h.label for h in autocomplete(admin, "415 555")] == ["Jonathan Smith (Initech Ærø)"]
    assert [h.label for h in autocomplete(admin, "jon@")] == ["Jonathan Smith (Initech Ærø)"]
    assert ("company", "Initech Ærø", "prefix") in labels(autocomplete(admin, "initech aer"))
    assert "Initrode" not in str(labels(autocomplete(admin, "init")))


def test_autocomplete_finds_typos_by_trigram(world, crowd):
    hits = autocomplete(fresh(world.admin), "jonathon smith")
    assert ("contact", "Jonathan Smith (Initech Ærø)", "typo") in labels(hits)


def test_autocomplete_respects_visibility(world, crowd):
    assert [h.label for h in autocomplete(fresh(world.rita), "j") if h.kind == "contact"] == []
    assert [h.label for h in autocomplete(fresh(world.rita), "zo")] == ["Zoë Smythe"]
    assert [h.label for h in autocomplete(fresh(world.charlie), "jo") if h.kind == "contact"] == ["Jonas Other"]


def test_autocomplete_handles_empty_long_and_odd_input(world, crowd):
    admin = fresh(world.admin)
    assert autocomplete(admin, "   ") == []
    assert autocomplete(admin, "x" * 10_000) == []
    assert autocomplete(admin, "%_\\'\"") == []
    assert autocomplete(admin, "Соколова") == []


def test_to_tsquery():
    assert to_tsquery("José Mül") == "jose & mul:*"
    assert to_tsquery("  !!  ") is None
    assert to_tsquery("a:b & c|d") == "a & b & c & d:*"


def test_full_text_ranks_highlights_and_counts_facets(world, crowd):
    vip = Tag.objects.create(organization=world.org, name="VIP")
    set_tags(crowd["Jonathan"], [vip])
    result = full_text(fresh(world.admin), "fintech payments")
    assert [c.first_name for c in result.contacts] == ["Jonathan"]
    result = full_text(fresh(world.admin), "smith")
    hit = result.contacts[0]
    assert hit.first_name == "Jonathan" and "<mark>Smith</mark>" in hit.name_hl
    assert ("lead", 1) in result.facets["lifecycle_stage"]
    assert (vip.pk, "VIP", 1) in result.facets["tag"]
    assert ("Initech Ærø", 1) in result.facets["company"]
    assert not result.capped


def test_full_text_respects_visibility_and_a_given_queryset(world, crowd):
    assert full_text(fresh(world.bob), "smith").contacts == []
    only_leads = Contact.objects.visible_to(fresh(world.admin)).filter(lifecycle_stage="customer")
    assert full_text(fresh(world.admin), "smith", queryset=only_leads).contacts == []


def test_full_text_caps_ranked_candidates(world, monkeypatch):
    import contacts.search as search

    monkeypatch.setattr(search, "RANK_CANDIDATES", 5)
    for i in range(8):
        create_contact(organization=world.org, data={"first_name": "Common", "last_name": f"Name{i}"})
    result = search.full_text(fresh(world.admin), "common")
    assert result.capped and len(result.contacts) == 5
    assert RANK_CANDIDATES == 1000


def test_highlights_are_escaped(world):
    create_contact(organization=world.org, data={"first_name": "<script>alert(1)</script>", "last_name": "Evil"})
    hit = full_text(fresh(world.admin), "evil").contacts[0]
    assert "<script>" not in hit.name_hl and "&lt;script&gt;" in hit.name_hl
    assert "<mark>Evil</mark>" in hit.name_hl


def test_typo_corrections_come_from_the_organizations_name_vocabulary(world, crowd):
    from contacts.search import corrections

    assert "jonathan smith" in corrections(world.org.pk, "jonathon smith")
    assert corrections(world.other_org.pk, "jonathon smith") == []  # nobody there has these names
    hits = autocomplete(fresh(world.admin), "joana muler")
    assert ("contact", "Joanna Müller", "typo") in labels(hits)
    assert autocomplete(fresh(world.bob), "joana muler") == []  # Joanna is Alice's


def test_name_vocabulary_grows_with_saves_and_rebuilds(world):
    from contacts.models import NameWord

    create_contact(organization=world.org, data={"first_name": "Émile", "last_name": "Zola"})
    assert set(NameWord.objects.filter(organization=world.org).values_list("word", flat=True)) >= {"emile", "zola"}
    NameWord.objects.all().delete()
    NameWord.rebuild(world.org.pk)
    assert set(NameWord.objects.filter(organization=world.org).values_list("word", flat=True)) == {"emile", "zola"}
