"""/api/search/?mode=hybrid|semantic|text and /api/contacts/{id}/similar/."""

import pytest

from contacts import semantic
from contacts.services import create_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(world):
    def make(org, first, owner, **extra):
        return create_contact(organization=org, data={"first_name": first, "last_name": "Souza", "owner": owner,
                                                      **extra})
    cto = dict(job_title="Chief Technology Officer", industry="Financial services",
               description="Runs engineering at a card payments startup.")
    found = {
        "cto": make(world.org, "Ana", world.alice, lifecycle_stage="customer", **cto),
        "florist": make(world.org, "Bea", world.alice, job_title="Florist", description="Wedding bouquets"),
        "rita_cto": make(world.org, "Rui", world.rita, **cto),
        "foreign": make(world.other_org, "Olga", world.other_rep, **cto),
    }
    semantic.embed_pending()
    return found


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "text"])
def test_ranked_search_with_reasons(api, world, people, mode):
    response = api(world.alice).get("/api/search/", {"q": "payments startup", "mode": mode})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["mode"] == mode
    top = body["results"][0]
    assert top["id"] == people["cto"].pk and top["display_name"] == "Ana Souza"
    assert top["reasons"]
    ids = {hit["id"] for hit in body["results"]}
    assert people["rita_cto"].pk not in ids and people["foreign"].pk not in ids
    if mode == "text":
        assert top["similarity"] is None
        assert top["reasons"] == ["matched 'payments' in notes", "matched 'startup' in notes"]
    else:
        assert 0 < top["similarity"] <= 1


def test_filters_narrow_inside_the_search(api, world, people):
    response = api(world.admin).get("/api/search/", {"q": "chief technology officer", "mode": "semantic",
                                                      "lifecycle_stage": "customer"})
    assert [hit["id"] for hit in response.json()["results"]] == [people["cto"].pk]


def test_without_mode_the_endpoint_still_suggests(api, world, people):
    response = api(world.alice).get("/api/search/", {"q": "ana"})
    assert response.json()["results"][0]["how"] == "prefix"


@pytest.mark.parametrize("params, field, message", [
    ({"q": "", "mode": "hybrid"}, "q", "Type something to search for."),
    ({"q": "x" * 10_000, "mode": "hybrid"}, "q", "Search for at most 200 characters."),
    ({"q": "cto", "mode": "vibes"}, "mode", "Choose one of: hybrid, semantic, text."),
    ({"q": "cto", "mode": "hybrid", "limit": "500"}, "limit", "Give a whole number from 1 to 50."),
    ({"q": "cto", "mode": "hybrid", "lifecycle_stage": "nonsense"}, "lifecycle_stage", None),
    ({"q": "cto", "mode": "hybrid", "colour": "red"}, "colour", None),
])
def test_bad_input_is_a_clear_400(api, world, people, params, field, message):
    response = api(world.alice).get("/api/search/", params)
    assert response.status_code == 400
    assert field in response.json()
    if message:
        assert response.json()[field] == [message]


def test_other_scripts_search_without_error(api, world, people):
    response = api(world.admin).get("/api/search/", {"q": "Соколова кардиолог", "mode": "hybrid"})
    assert response.status_code == 200


def test_similar_contacts(api, world, people):
    response = api(world.admin).get(f"/api/contacts/{people['cto'].pk}/similar/")
    assert response.status_code == 200
    rows = response.json()
    assert rows[0]["id"] == people["rita_cto"].pk and rows[0]["similarity"] > 0.8
    assert people["foreign"].pk not in {row["id"] for row in rows}
    # a rep sees only their own contacts among the similar ones
    response = api(world.alice).get(f"/api/contacts/{people['cto'].pk}/similar/", {"limit": 10})
    assert response.status_code == 200, response.json()
    rows = response.json()
    assert [row["id"] for row in rows] == [people["florist"].pk]


@pytest.mark.parametrize("user", ["rita", "other_rep", "charlie"])
def test_similar_of_a_contact_the_user_cannot_see_is_404(api, world, people, user):
    response = api(getattr(world, user)).get(f"/api/contacts/{people['cto'].pk}/similar/")
    assert response.status_code == 404


def test_similar_limit_is_checked(api, world, people):
    response = api(world.admin).get(f"/api/contacts/{people['cto'].pk}/similar/", {"limit": "0"})
    assert response.status_code == 400 and "limit" in response.json()
