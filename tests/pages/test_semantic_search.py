"""The search page's "By meaning" toggle and the contact page's "Similar contacts" card."""

import pytest

from contacts import semantic
from tests.pages.conftest import make_contact

pytestmark = pytest.mark.django_db

CTO = dict(job_title="Chief Technology Officer", industry="Financial services",
           description="Runs engineering at a card payments startup.")


@pytest.fixture
def people(world):
    found = {
        "cto": make_contact(world, "Ana", "Souza", owner=world.alice, team=world.team_a, **CTO),
        "florist": make_contact(world, "Bea", "Bloom", owner=world.alice, team=world.team_a, job_title="Florist"),
        "rita_cto": make_contact(world, "Rui", "Souza", owner=world.rita, team=world.team_b, **CTO),
        "foreign": make_contact(world, "Olga", "Souza", owner=world.other_rep, org=world.other_org, **CTO),
    }
    semantic.embed_pending()
    return found


def test_by_meaning_lists_hits_with_their_reasons(client, world, people):
    client.force_login(world.alice)
    response = client.get("/search/", {"q": "payments startup CTO", "mode": "hybrid"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="mode" value="hybrid" checked' in html
    assert "Ana Souza" in html and "close in meaning to &#x27;payments startup CTO&#x27;" in html
    assert "Rui Souza" not in html and "Olga" not in html
    html = client.get("/search/", {"q": "payments startup", "mode": "hybrid"}).content.decode()
    assert "matched &#x27;payments&#x27; in notes; matched &#x27;startup&#x27; in notes; close in meaning" in html


def test_without_the_toggle_the_page_searches_words(client, world, people):
    client.force_login(world.alice)
    html = client.get("/search/", {"q": "payments"}).content.decode()
    assert 'name="mode" value="hybrid" checked' not in html and "Best matches for" in html


def test_an_unknown_mode_or_a_huge_query_is_a_clear_400(client, world, people):
    client.force_login(world.alice)
    assert client.get("/search/", {"q": "cto", "mode": "vibes"}).status_code == 400
    response = client.get("/search/", {"q": "x" * 10_000, "mode": "hybrid"})
    assert response.status_code == 400 and "at most 200 characters" in response.content.decode()


def test_nothing_found_by_meaning_says_so(client, world, people):
    client.force_login(world.viewer_a)
    world.team_a.contacts.update(team=None)
    html = client.get("/search/", {"q": "payments", "mode": "semantic"}).content.decode()
    assert "Nothing close to" in html


def test_similar_contacts_card(client, world, people):
    client.force_login(world.admin)
    detail = client.get(f"/contacts/{people['cto'].pk}/").content.decode()
    assert f"/contacts/{people['cto'].pk}/similar/" in detail  # loaded after the page
    html = client.get(f"/contacts/{people['cto'].pk}/similar/").content.decode()
    assert "Rui Souza" in html and "Olga" not in html


def test_similar_card_while_the_contact_is_being_analysed(client, world, people):
    client.force_login(world.alice)
    fresh_one = make_contact(world, "New", "Person", owner=world.alice)
    assert "being analysed" in client.get(f"/contacts/{fresh_one.pk}/similar/").content.decode()


@pytest.mark.parametrize("user", ["rita", "other_rep", "charlie"])
def test_similar_card_of_an_invisible_contact_is_404(client, world, people, user):
    client.force_login(getattr(world, user))
    assert client.get(f"/contacts/{people['cto'].pk}/similar/").status_code == 404
