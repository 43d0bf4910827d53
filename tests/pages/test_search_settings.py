"""/settings/search/ and /api/search/index/: what waits for its embedding, the analysis job
and its progress; org admins only."""

import pytest

from rest_framework.test import APIClient

from contacts import semantic
from crm.models import Job
from tests.conftest import fresh
from tests.pages.conftest import make_contact

pytestmark = pytest.mark.django_db

URL = "/settings/search/"
API = "/api/search/index/"


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(fresh(user))
        return client
    return client_for


def test_page_counts_what_waits_and_starts_a_job(client, world):
    make_contact(world, "Ana", "Souza", job_title="CTO")
    make_contact(world, "Olga", org=world.other_org)
    client.force_login(world.admin)
    html = client.get(URL).content.decode()
    assert "<strong>1</strong> record (contacts and companies) waiting to be analysed" in html
    response = client.post(URL, {})
    assert response.status_code == 302
    job = Job.objects.get(kind=semantic.BACKFILL_KIND)
    assert job.organization_id == world.org.pk and job.total == 1 and job.params == {"rebuild": False}
    semantic.run_backfill(job.pk)
    html = client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert "Every contact and company is analysed." in html and 'aria-valuenow="100"' in html


def test_a_running_job_is_polled_and_not_started_twice(client, world):
    make_contact(world, "Ana")
    client.force_login(world.admin)
    client.post(URL, {"rebuild": "1"})
    html = client.get(URL).content.decode()
    assert 'hx-trigger="every 2s"' in html and "Analyse everything again" not in html
    client.post(URL, {})
    assert Job.objects.filter(kind=semantic.BACKFILL_KIND).count() == 1


@pytest.mark.parametrize("user", ["alice", "manager_a", "viewer_a"])
def test_only_org_admins(client, world, user):
    client.force_login(getattr(world, user))
    assert client.get(URL).status_code == 403
    assert client.post(URL, {}).status_code == 403
    assert not Job.objects.exists()


def test_api_reports_and_starts(api, world):
    make_contact(world, "Ana")
    assert api(world.admin).get(API).json() == {"pending": 1, "job": None}
    response = api(world.admin).post(API, {"rebuild": True}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["job"]["rebuild"] is True and body["job"]["total"] == 1 and body["job"]["status"] == "queued"
    assert api(world.admin).post(API, {}, format="json").status_code == 400  # one at a time
    semantic.run_backfill(body["job"]["id"])
    body = api(world.admin).get(API).json()
    assert body["pending"] == 0 and body["job"]["progress"] == 100


def test_api_is_for_org_admins_of_their_own_organization(api, world):
    make_contact(world, "Ana")
    assert api(world.alice).get(API).status_code == 403
    assert api(world.alice).post(API, {}, format="json").status_code == 403
    # the other organization's admin sees its own (empty) organization, never this one's job
    api(world.admin).post(API, {}, format="json")
    assert api(world.charlie).get(API).json() == {"pending": 0, "job": None}
