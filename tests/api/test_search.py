"""/api/search/ (suggestions) and /api/search/full-text/ (ranked, highlighted, facets)."""

import pytest

from contacts.services import create_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def named(world):
    def make(org, first, last, owner, **extra):
        return create_contact(organization=org, data={"first_name": first, "last_name": last, "owner": owner,
                                                      **extra})
    return {
        "jon": make(world.org, "Jonathan", "Smith", world.alice, phone="+14155552671", job_title="Payments engineer",
                    lifecycle_stage="customer"),
        "zoe": make(world.org, "Zoë", "Smythe", world.rita, job_title="Payments analyst"),
        "foreign": make(world.other_org, "Jonas", "Smith", world.other_rep, job_title="Payments"),
    }


def test_suggestions(api, world, named):
    response = api(world.admin).get("/api/search/", {"q": "smi"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert {"kind": "contact", "id": named["jon"].pk, "label": "Jonathan Smith", "how": "prefix"} in results
    assert all(r["id"] != named["foreign"].pk for r in results)


@pytest.mark.parametrize("who, expected", [("admin", {"jon", "zoe"}), ("alice", {"jon"}), ("rita", {"zoe"}),
                                           ("charlie", {"foreign"}), ("other_rep", {"foreign"})])
def test_visibility(api, world, named, who, expected):
    ids = {v.pk: k for k, v in named.items()}
    found = api(getattr(world, who)).get("/api/search/", {"q": "sm"}).json()["results"]
    assert {ids[r["id"]] for r in found if r["kind"] == "contact"} == expected
    full = api(getattr(world, who)).get("/api/search/full-text/", {"q": "payments"}).json()["results"]
    assert {ids[r["id"]] for r in full} == expected


def test_full_text_highlights_and_facets(api, world, named):
    data = api(world.admin).get("/api/search/full-text/", {"q": "payments eng"}).json()
    assert [r["id"] for r in data["results"]] == [named["jon"].pk]
    facets = data["facets"]
    assert {"value": "customer", "label": "Customer", "count": 1} in facets["lifecycle_stage"]
    assert facets["owner"][0]["label"] == "Alice Rep"
    assert data["capped"] is False
    narrowed = api(world.admin).get("/api/search/full-text/", {"q": "payments", "owner": world.rita.pk}).json()
    assert [r["id"] for r in narrowed["results"]] == [named["zoe"].pk]


def test_highlight_marks_the_match(api, world, named):
    row = api(world.admin).get("/api/search/full-text/", {"q": "jonathan"}).json()["results"][0]
    assert row["highlights"]["display_name"] == "<mark>Jonathan</mark> Smith"


@pytest.mark.parametrize("path, params, field", [
    ("/api/search/", {}, "q"),
    ("/api/search/", {"q": "a", "limit": "x"}, "limit"),
    ("/api/search/", {"q": "a", "limit": "99"}, "limit"),
    ("/api/search/", {"q": "a", "bogus": "1"}, "bogus"),
    ("/api/search/", {"q": "a" * 201}, "q"),
    ("/api/search/full-text/", {"q": ""}, "q"),
    ("/api/search/full-text/", {"q": "a", "lifecycle_stage": "nope"}, "lifecycle_stage"),
    ("/api/search/full-text/", {"q": "a", "owner": "999999"}, "owner"),
    ("/api/search/full-text/", {"q": "a", "bogus": "1"}, "bogus"),
])
def test_bad_input_names_the_parameter(api, world, named, path, params, field):
    response = api(world.admin).get(path, params)
    assert response.status_code == 400
    assert field in response.json()


def test_foreign_filter_value_is_rejected(api, world, named):
    response = api(world.admin).get("/api/search/full-text/", {"q": "payments", "owner": world.other_rep.pk})
    assert response.status_code == 400 and "owner" in response.json()


def test_needs_authentication(api):
    assert api().get("/api/search/", {"q": "a"}).status_code in (401, 403)


def test_query_counts(api, world, named, django_assert_max_num_queries):
    client = api(world.admin)
    with django_assert_max_num_queries(12):
        assert client.get("/api/search/", {"q": "jo"}).status_code == 200
    with django_assert_max_num_queries(16):
        assert client.get("/api/search/full-text/", {"q": "payments"}).status_code == 200
