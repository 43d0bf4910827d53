"""The global search box (/search/suggest/) and the search page (/search/)."""

import pytest

from companies.models import Company
from contacts.models import ContactCompany

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(world, tags):
    initech = Company.objects.create(organization=world.org, name="Initech Ærø", owner=world.alice)
    jon = make_contact(world, "Jonathan", "Smith", owner=world.alice, team=world.team_a, email="jon@initech.test",
                       phone="+1 (415) 555-2671", job_title="Payments engineer", lifecycle_stage="customer",
                       tags=[tags["vip"]])
    ContactCompany.objects.create(organization=world.org, contact=jon, company=initech, is_primary=True)
    return {
        "jon": jon,
        "joanna": make_contact(world, "Joanna", "Müller", owner=world.alice, team=world.team_a,
                               job_title="Payments lead"),
        "zoe": make_contact(world, "Zoë", "Smythe", owner=world.rita, team=world.team_b,
                            job_title="Payments analyst"),
        "foreign": make_contact(world, "Jonas", "Outsider", owner=world.other_rep, org=world.other_org,
                                job_title="Payments"),
        "initech": initech,
    }


def test_suggestions_from_the_first_keystroke(client, world, people):
    client.force_login(world.admin)
    response = client.get("/search/suggest/", {"q": "j"}, HTTP_HX_REQUEST="true")
    html = body(response)
    assert response.status_code == 200
    assert "Jonathan Smith (Initech Ærø)" in html and "Joanna Müller" in html
    assert f'href="/contacts/{people["jon"].pk}/"' in html
    assert "Jonas" not in html  # another organization


@pytest.mark.parametrize("typed", ["415 555", "(415) 555", "+1 415", "SMITH jo", "mull", "jon@init"])
def test_suggestions_match_phone_formats_names_and_email(client, world, people, typed):
    client.force_login(world.alice)
    html = body(client.get("/search/suggest/", {"q": typed}))
    assert ("Jonathan Smith" in html) or ("Joanna Müller" in html), typed


def test_suggestions_include_companies_and_typo_corrections(client, world, people):
    client.force_login(world.admin)
    html = body(client.get("/search/suggest/", {"q": "initech"}))
    assert f'href="/companies/{people["initech"].pk}/"' in html
    html = body(client.get("/search/suggest/", {"q": "jonathon smith"}))
    assert "Jonathan Smith" in html and "did you mean" in html


@pytest.mark.parametrize("who, sees", [
    ("admin", {"jon", "joanna", "zoe"}), ("alice", {"jon", "joanna"}), ("rita", {"zoe"}),
    ("manager_b", {"zoe"}), ("charlie", {"foreign"}),
])
def test_search_respects_visibility(client, world, people, who, sees):
    client.force_login(getattr(world, who))
    html = body(client.get("/search/", {"q": "payments"}))
    names = {"jon": "Smith", "joanna": "Müller", "zoe": "Smythe", "foreign": "Outsider"}
    assert {key for key, name in names.items() if name in html} == sees
    suggest = body(client.get("/search/suggest/", {"q": "jo"}))
    assert ("Jonas" in suggest) == ("foreign" in sees)
    if "jon" not in sees:
        assert "Jonathan" not in suggest


def test_search_page_highlights_and_facets(client, world, people, tags):
    client.force_login(world.admin)
    response = client.get("/search/", {"q": "paym"})
    html = body(response)
    assert response.status_code == 200
    assert "<mark>" not in html.split("Best matches")[0]  # nothing highlighted outside the results
    assert "<mark>Payments</mark> engineer" in html
    assert "Narrow down" in html and "Customer" in html and "VIP" in html
    # A facet link narrows the results with the contact filters.
    narrowed = body(client.get("/search/", {"q": "paym", "lifecycle_stage": "customer"}))
    assert "Smith" in narrowed and "Müller" not in narrowed
    assert "Clear filters" in narrowed


def test_search_page_highlights_escape_the_text(client, world):
    make_contact(world, "Eve", "<script>x</script>", owner=world.alice)
    client.force_login(world.admin)
    html = body(client.get("/search/", {"q": "eve"}))
    assert "<script>x</script>" not in html
    assert "<mark>Eve</mark>" in html


def test_search_page_bad_input(client, world, people):
    client.force_login(world.admin)
    assert client.get("/search/", {"q": "x" * 201}).status_code == 400
    response = client.get("/search/", {"q": "paym", "lifecycle_stage": "nonsense"})
    assert response.status_code == 400 and "Lifecycle stage" in body(response)
    empty = client.get("/search/", {"q": ""})
    assert empty.status_code == 200 and "What are you looking for?" in body(empty)
    nothing = client.get("/search/", {"q": "zzzzqqq"})
    assert "Nothing matches" in body(nothing)


def test_search_needs_login(client):
    assert client.get("/search/?q=a").status_code == 302
    assert client.get("/search/suggest/?q=a").status_code == 302


def test_search_query_counts_do_not_grow_with_matches(client, world, django_assert_max_num_queries):
    client.force_login(world.admin)
    for i in range(3):
        make_contact(world, f"Paula{i}", "Payne", owner=world.alice, job_title="Payments")
    client.get("/search/", {"q": "payments"})
    with django_assert_max_num_queries(16) as few:
        client.get("/search/", {"q": "payments"})
    for i in range(3, 30):
        make_contact(world, f"Paula{i}", "Payne", owner=world.alice, job_title="Payments")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/search/", {"q": "payments"})
    with django_assert_max_num_queries(14):
        client.get("/search/suggest/", {"q": "pau"})
