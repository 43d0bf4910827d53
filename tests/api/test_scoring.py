"""/api/scoring-model/ (weights: members read, admins write, validation naming the field) and
/api/contacts/{id}/score/ and /insights/ (visibility, shape, query counts); the contact's score
is read-only in the contact API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activities.services import log_activity
from contacts import scoring
from contacts.models import Contact, ScoringModel
from contacts.services import create_contact
from crm.models import Job

pytestmark = pytest.mark.django_db

URL = "/api/scoring-model/"


def alices(world, **data):
    return create_contact(organization=world.org, data={"first_name": "Ann", "owner": world.alice,
                                                        "team": world.team_a, **data})


def test_members_read_the_defaults(world, api):
    for who in ("admin", "alice", "viewer_a"):
        response = api(getattr(world, who)).get(URL)
        assert response.status_code == 200
        assert response.json()["title_director"] == 15 and response.json()["half_life_days"] == 30
        assert response.json()["recompute_job"] is None
    assert api().get(URL).status_code in (401, 403)


def test_admin_changes_weights_and_the_organization_is_rescored(world, api):
    alices(world, job_title="CEO")
    response = api(world.admin).put(URL, {"title_executive": 40, "target_industries": ["Software", " software "]},
                                    format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title_executive"] == 40 and body["target_industries"] == ["Software"]
    assert body["recompute_job"]["reason"] == "weights" and body["recompute_job"]["status"] == "queued"
    model = ScoringModel.objects.get(organization=world.org)
    assert model.title_executive == 40 and model.call == 6  # fields left out keep their value
    job = Job.objects.get(pk=body["recompute_job"]["id"])
    assert job.kind == scoring.JOB_KIND and job.actor == world.admin and job.total == 1
    scoring.run(job.pk)
    assert Contact.objects.get(first_name="Ann").score == 40


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_only_admins_write(world, api, who):
    response = api(getattr(world, who)).put(URL, {"call": 1}, format="json")
    assert response.status_code == 403
    assert not ScoringModel.objects.exists()


@pytest.mark.parametrize("data, field, message", [
    ({"call": -1}, "call", "cannot be negative"),
    ({"half_life_days": 0.5}, "half_life_days", "at least 1 day"),
    ({"meeting_held": 101}, "meeting_held", "At most 100"),
    ({"call": "lots"}, "call", "give a number"),
    ({"target_industries": "Software"}, "target_industries", "list"),
    ({"score": 5}, "score", "unknown field"),
])
def test_bad_weights_name_the_field_and_change_nothing(world, api, data, field, message):
    response = api(world.admin).put(URL, data, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json() and message.lower() in str(response.json()[field]).lower()
    assert not ScoringModel.objects.exists() and not Job.objects.exists()


def test_score_is_read_only_in_the_contact_api(world, api):
    contact = alices(world)
    response = api(world.admin).patch(f"/api/contacts/{contact.pk}/", {"score": 99}, format="json")
    assert response.status_code == 400 and "computed" in str(response.json()["score"])
    created = api(world.admin).post("/api/contacts/", {"first_name": "New", "score": 50}, format="json")
    assert created.status_code == 400 and "score" in created.json()
    contact.refresh_from_db()
    assert contact.score == 0


def scored(world):
    contact = alices(world, job_title="VP Sales")
    log_activity(organization_id=world.org.pk, data={"contact": contact, "type": "meeting_held"})
    log_activity(organization_id=world.org.pk, data={"contact": contact, "type": "sms_received",
                                                     "direction": "inbound",
                                                     "occurred_at": timezone.now() - timedelta(days=1)})
    scoring.score_pending()
    return Contact.objects.get(pk=contact.pk)


def test_score_endpoint_gives_breakdown_and_history(world, api, django_assert_max_num_queries):
    contact = scored(world)
    client = api(world.alice)
    with django_assert_max_num_queries(10):
        response = client.get(f"/api/contacts/{contact.pk}/score/")
    assert response.status_code == 200
    body = response.json()
    assert body["score"] == contact.score == round(20 + 12 + 8 * 0.5 ** (1 / 30))
    assert [c["component"] for c in body["components"]] == ["title", "meeting_held", "sms_received"]
    assert all(c["why"] for c in body["components"])
    assert body["history"][0]["score"] == contact.score and body["history"][0]["reason"] == "change"


def test_insights_endpoint(world, api, django_assert_max_num_queries):
    contact = scored(world)
    client = api(world.alice)
    with django_assert_max_num_queries(12):
        response = client.get(f"/api/contacts/{contact.pk}/insights/")
    assert response.status_code == 200
    body = response.json()
    assert body["engagement"] == {"trend": "steady", "last_30_days": 2, "previous_30_days": 0} or \
        body["engagement"]["trend"] == "rising"
    assert body["days_since_last_contact"] == 0
    assert body["best_time_to_reach"]["enough"] is False
    assert body["next_action"]["rule"] == 3 and body["next_action"]["action"] == "Reply"


@pytest.mark.parametrize("who", ["charlie", "other_rep", "rita", "bob"])
def test_other_organizations_teams_and_owners_get_404(world, api, who):
    contact = scored(world)
    client = api(getattr(world, who))
    for path in ("score", "insights"):
        response = client.get(f"/api/contacts/{contact.pk}/{path}/")
        assert response.status_code == 404
        assert "VP Sales" not in response.content.decode()


def test_viewer_reads_score_but_cannot_write(world, api):
    contact = scored(world)
    client = api(world.viewer_a)
    assert client.get(f"/api/contacts/{contact.pk}/score/").status_code == 200
    assert client.put(URL, {"call": 1}, format="json").status_code == 403


def test_query_counts_do_not_grow_with_history_and_activities(world, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    contact = scored(world)
    client = api(world.alice)

    def counts():
        result = []
        for path in ("score", "insights"):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(f"/api/contacts/{contact.pk}/{path}/").status_code == 200
            result.append(len(ctx.captured_queries))
        return result

    counts()  # warm (the throttle's cache row)
    small = counts()
    for days in range(1, 12):
        log_activity(organization_id=world.org.pk, data={"contact": contact, "type": "sms_received",
                                                         "direction": "inbound",
                                                         "occurred_at": timezone.now() - timedelta(days=days)})
        scoring.score_pending()
    assert counts() == small
