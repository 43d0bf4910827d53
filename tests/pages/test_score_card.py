"""The contact page's lead score card (breakdown, history, insights) and /settings/scoring/ (org
admins tune the weights; bad values are shown next to their field and change nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities.services import log_activity
from contacts import scoring
from contacts.models import Contact, ScoringModel
from crm.models import Job

from .conftest import body

pytestmark = pytest.mark.django_db

SETTINGS = "/settings/scoring/"


@pytest.fixture
def scored(world, alices_contact):
    Contact.all_objects.filter(pk=alices_contact.pk).update(job_title="Director of Sales")
    log_activity(organization_id=world.org.pk, data={"contact": alices_contact, "type": "meeting_held",
                                                     "occurred_at": timezone.now() - timedelta(days=2)})
    scoring.score_pending()
    return Contact.objects.get(pk=alices_contact.pk)


def test_card_shows_score_breakdown_history_and_insights(client, world, scored):
    client.force_login(world.alice)
    page = body(client.get(f"/contacts/{scored.pk}/"))
    assert f"Lead score: {scored.score}" in page
    for text in ["Job title", "“Director of Sales” reads as director", "Meetings held", "half-life 30 days",
                 "Score history", "0 → " + str(scored.score), "Insights", "Next action", "Best time to reach",
                 "Not enough replies", "Engagement", "2 days ago"]:
        assert text in page, text


def test_card_without_signals(client, world, alices_contact):
    client.force_login(world.alice)
    page = body(client.get(f"/contacts/{alices_contact.pk}/"))
    assert "Lead score: 0" in page and "No scoring signals yet" in page and "Introduce yourself" in page


def test_card_query_count_is_constant(client, world, scored):
    client.force_login(world.alice)
    client.get(f"/contacts/{scored.pk}/")
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/contacts/{scored.pk}/")
    small = len(ctx.captured_queries)
    for days in range(3, 15):
        log_activity(organization_id=world.org.pk, data={"contact": scored, "type": "sms_received",
                                                         "direction": "inbound",
                                                         "occurred_at": timezone.now() - timedelta(days=days)})
        scoring.score_pending()
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/contacts/{scored.pk}/")
    assert len(ctx.captured_queries) == small


def test_score_is_not_editable_on_the_contact_form_or_inline(client, world, alices_contact):
    client.force_login(world.alice)
    form = body(client.get(f"/contacts/{alices_contact.pk}/edit/"))
    assert 'name="score"' not in form
    assert client.get(f"/contacts/{alices_contact.pk}/inline/score/").status_code == 404


@pytest.mark.parametrize("who", ["charlie", "other_rep", "rita", "bob"])
def test_card_is_on_a_page_others_cannot_see(client, world, scored, who):
    client.force_login(getattr(world, who))
    assert client.get(f"/contacts/{scored.pk}/").status_code == 404


# -- /settings/scoring/

def test_settings_nav_links_to_scoring(client, world):
    client.force_login(world.admin)
    page = body(client.get(SETTINGS))
    assert 'href="/settings/scoring/"' in page and 'aria-current="page">Lead scoring' in page
    assert "Half-life (days)" in page and 'value="30' in page


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_only_org_admins_open_the_settings(client, world, who):
    client.force_login(getattr(world, who))
    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, {"call": "1"}).status_code == 403
    assert not ScoringModel.objects.exists()


def test_another_organizations_admin_edits_only_their_own(client, world):
    client.force_login(world.charlie)
    assert client.post(SETTINGS, form_data(call="1")).status_code == 302
    assert ScoringModel.objects.get().organization == world.other_org
    assert not Job.objects.filter(organization=world.org).exists()


def form_data(**changes):
    data = {name: str(getattr(ScoringModel(), name)) for name in ScoringModel.WEIGHT_FIELDS}
    data["target_industries"] = ""
    data.update(changes)
    return data


def test_admin_saves_weights_and_the_organization_is_rescored(client, world, alices_contact):
    client.force_login(world.admin)
    response = client.post(SETTINGS, form_data(call="3.5", target_industries="Software, Healthcare , software"))
    assert response.status_code == 302
    model = ScoringModel.objects.get(organization=world.org)
    assert model.call == 3.5 and model.target_industries == ["Software", "Healthcare"]
    job = Job.objects.get(kind=scoring.JOB_KIND, organization=world.org)
    assert job.params == {"reason": "weights"} and job.actor == world.admin
    page = body(client.get(SETTINGS))
    assert "Rescoring" in page and "Software, Healthcare" in page
    # The progress card polls while the job runs.
    assert 'hx-trigger="every 2s"' in page
    scoring.run(job.pk)
    partial = body(client.get(SETTINGS, HTTP_HX_REQUEST="true"))
    assert "Done" in partial and "every 2s" not in partial


@pytest.mark.parametrize("field, value, message", [
    ("call", "-1", "Points cannot be negative"),
    ("half_life_days", "0.5", "The half-life must be at least 1 day."),
    ("meeting_held", "250", "At most 100 points."),
    ("email_opened", "many", "Enter a number."),
])
def test_bad_values_are_shown_on_their_field(client, world, field, value, message):
    client.force_login(world.admin)
    response = client.post(SETTINGS, form_data(**{field: value}))
    assert response.status_code == 400
    page = body(response)
    assert message in page and "Please fix the highlighted field" in page
    assert response.context["form"].errors.keys() == {field}
    assert not ScoringModel.objects.exists() and not Job.objects.exists()
