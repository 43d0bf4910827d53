"""The dashboard page: numbers against hand-built data (tests/dashboard_data.py), filters, presets,
visibility, bad input (a clear message, never a 500) and constant query counts."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import fresh
from tests.dashboard_data import build, day_ago, grow

from .conftest import body

pytestmark = pytest.mark.django_db

URL = "/dashboard/"


@pytest.fixture
def data(world):
    return build(world)


def page(client, user, status=200, **params):
    client.force_login(user)
    response = client.get(URL, params)
    assert response.status_code == status, body(response)[:2000]
    return response


def embedded(response) -> dict:
    match = re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', body(response), re.S)
    assert match, "no json_script data"
    return json.loads(match.group(1))


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    return match.group(1).strip() if match else ""


def test_admin_page_shows_numbers_charts_and_tables(client, world, data):
    response = page(client, world.admin)
    html = body(response)
    assert text_of(html, "stat-total") == "5"
    assert text_of(html, "stat-active") == "4"
    assert text_of(html, "stat-opt-in") == "60%"
    assert text_of(html, "stat-response") == "50%"
    assert "3 of 5 contacts consented" in html and "2 of 4 texted contacts replied" in html
    for canvas in ("chart-growth", "chart-stage", "chart-source", "chart-sms", "chart-reps"):
        assert f'<canvas id="{canvas}"' in html
    assert "vendor/chartjs/chart-4.6.1.umd.min.js" in html and "js/dashboard.js" in html
    assert "cdn" not in html.lower()
    # Tables carry the same numbers as the charts
    stage_table = html[html.index('id="table-stage"'):]
    assert re.search(r"<td>Lead</td><td class=\"num\">2</td>", stage_table)
    assert re.search(r"<td>Customer</td><td class=\"num\">2</td>", stage_table)
    sms = html[html.index('id="sms-figures"'):]
    assert re.search(r"<dt>Sent</dt><dd>4</dd>", sms) and re.search(r"<dt>Failed</dt><dd>2</dd>", sms)
    assert re.search(r"<dt>Delivered</dt><dd>1</dd>", sms)
    reps_table = html[html.index('id="table-reps"'):]
    assert "Alice Rep" in reps_table and "Rita Rep" in reps_table
    data_json = embedded(response)
    assert data_json["contacts"]["total"] == 5 and len(data_json["growth"]) == 30


def test_dashboard_is_in_the_navigation(client, world):
    client.force_login(world.alice)
    html = body(client.get("/"))
    assert 'href="/dashboard/"' in html
    html = body(client.get(URL))
    assert re.search(r'href="/dashboard/"\s+aria-current="page"', html)


def test_presets_are_links_keeping_team_and_industry(client, world, data):
    html = body(page(client, world.admin, team=world.team_a.pk, industry="Software"))
    for days in (6, 29, 89):
        assert f"from={day_ago(days)}&amp;to={day_ago(0)}&amp;team={world.team_a.pk}&amp;industry=Software" in html
    # The default range is "Last 30 days"
    assert re.search(r'class="chip is-current"[^>]*>Last 30 days<', html)
    assert f'<option value="{world.team_a.pk}" selected>Team A</option>' in html


def test_date_range_filter(client, world, data):
    response = page(client, world.admin, **{"from": day_ago(55), "to": day_ago(45)})
    assert text_of(body(response), "stat-total") == "2" and text_of(body(response), "stat-active") == "2"
    assert embedded(response)["range"]["days"] == 11
    assert f'value="{day_ago(55)}"' in body(response)


def test_team_and_industry_filters(client, world, data):
    response = page(client, world.admin, team=world.team_b.pk)
    assert text_of(body(response), "stat-total") == "1"
    response = page(client, world.admin, industry="software")
    assert text_of(body(response), "stat-total") == "3"
    assert "All teams · software ·" in " ".join(body(response).split())


def test_rep_sees_only_their_book(client, world, data):
    response = page(client, world.alice)
    html = body(response)
    assert text_of(html, "stat-total") == "3" and text_of(html, "stat-response") == "50%"
    reps = {rep["name"] for rep in embedded(response)["activities"]["by_rep"]}
    assert reps == {"Alice Rep", "Ada Admin"}
    assert "Bob Rep" not in html and "Rita Rep" not in html
    assert "your contacts" in html


def test_viewer_sees_their_teams_numbers(client, world, data):
    response = page(client, world.viewer_a)
    assert text_of(body(response), "stat-total") == "4"


def test_other_organization_sees_only_its_own(client, world, data):
    response = page(client, world.charlie)
    html = body(response)
    assert text_of(html, "stat-total") == "1"
    assert "Alice Rep" not in html and "Team B" not in html and "Retail" not in html
    # Another organization's team id is refused, not used
    response = page(client, world.charlie, status=400, team=world.team_a.pk)
    assert "Choose one of your organization" in body(response)
    assert 'id="dashboard-data"' not in body(response)


@pytest.mark.parametrize("params, message", [
    ({"from": "2026-02-30"}, "From: Enter a date as YYYY-MM-DD."),
    ({"to": "next week"}, "To: Enter a date as YYYY-MM-DD."),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "From: The start date is after the end date."),
    ({"from": "0001-01-01"}, "From: Enter a date between 1900 and 2199."),
    ({"from": "2026-01-01", "to": "9999-12-31"}, "To: Enter a date between 1900 and 2199."),
    ({"from": "1990-01-01", "to": "2026-01-01"}, "From: Choose a range of at most 10 years."),
    ({"team": "x"}, "Team: Choose one of your organization"),
])
def test_bad_input_gets_a_clear_message(client, world, params, message):
    response = page(client, world.admin, status=400, **params)
    html = body(response)
    assert message in html and 'role="alert"' in html
    assert 'aria-invalid="true"' in html
    assert 'id="dashboard-data"' not in html


def test_anonymous_is_sent_to_sign_in_and_users_without_organization_get_403(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]
    from crm.models import User

    lonely = User.objects.create_user("lonely@kith.test", "x-very-long-password-1")
    client.force_login(lonely)
    assert client.get(URL).status_code == 403


def test_query_count_is_constant_as_data_grows(client, world, data, django_assert_max_num_queries):
    def count(user, **params):
        client.force_login(fresh(user))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, params).status_code == 200
        return len(queries)

    cases = [(world.admin, {}), (world.alice, {}), (world.manager_a, {"industry": "Software"}),
             (world.admin, {"team": world.team_a.pk, "from": day_ago(200), "to": day_ago(0)})]
    before = [count(user, **params) for user, params in cases]
    grow(world, 12)
    assert [count(user, **params) for user, params in cases] == before
    client.force_login(fresh(world.admin))
    with django_assert_max_num_queries(14):
        client.get(URL)


def test_home_links_to_the_dashboard(client, world):
    client.force_login(world.manager_a)
    assert "Open the dashboard" in body(client.get("/"))
