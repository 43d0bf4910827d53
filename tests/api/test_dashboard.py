"""GET /api/dashboard/: metric values against hand-built data (tests/dashboard_data.py), filters,
visibility, constant query counts, strict parameters."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.dashboard_data import build, day_ago, grow

pytestmark = pytest.mark.django_db

URL = "/api/dashboard/"


@pytest.fixture
def data(world):
    return build(world)


def get(api, user, **params):
    response = api(user).get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def stages(body):
    return {row["stage"]: row["count"] for row in body["by_stage"]}


def sources(body):
    return {row["source"]: row["count"] for row in body["by_source"]}


def reps(body):
    return {rep["name"]: rep["by_type"] for rep in body["activities"]["by_rep"]}


def test_admin_sees_the_whole_organization(api, world, data):
    body = get(api, world.admin)
    assert body["range"] == {"from": day_ago(29), "to": day_ago(0), "days": 30, "bucket": "day"}
    assert body["contacts"] == {"total": 5, "active": 4, "new": 3, "sms_opted_in": 3, "sms_opt_in_rate": 0.6}
    assert stages(body) == {"lead": 2, "mql": 1, "sql": 0, "opportunity": 0, "customer": 2, "evangelist": 0}
    assert sources(body) == {"website": 2, "referral": 2, "event": 1}
    assert body["messages"] == {"sent": 4, "delivered": 1, "failed": 2, "pending": 2, "received": 3,
                                "delivery_rate": 0.25}
    assert body["responses"] == {"texted": 4, "replied": 2, "rate": 0.5}
    assert reps(body) == {"Alice Rep": {"call": 1, "note": 1}, "Bob Rep": {"call": 1},
                          "Rita Rep": {"meeting_held": 1}, "Ada Admin": {"note": 1}}
    assert body["activities"]["total"] == 5
    assert body["industries"] == ["Retail", "Software"] or body["industries"] == ["Retail", "software"]


def test_growth_buckets_and_cumulative_line(api, world, data):
    body = get(api, world.admin)
    growth = body["growth"]
    assert len(growth) == 30 and growth[0]["start"] == day_ago(29) and growth[-1]["start"] == day_ago(0)
    assert sum(point["new"] for point in growth) == 3
    by_day = {point["start"]: point for point in growth}
    assert by_day[day_ago(20)]["new"] == 1 and by_day[day_ago(10)]["new"] == 1 and by_day[day_ago(5)]["new"] == 1
    assert growth[0]["cumulative"] == 2 and growth[-1]["cumulative"] == 5
    assert by_day[day_ago(10)]["cumulative"] == 4

    weekly = get(api, world.admin, **{"from": day_ago(90), "to": day_ago(0)})
    assert weekly["range"]["bucket"] == "week" and 13 <= len(weekly["growth"]) <= 15
    assert sum(p["new"] for p in weekly["growth"]) == 4 and weekly["growth"][-1]["cumulative"] == 5
    monthly = get(api, world.admin, **{"from": day_ago(365), "to": day_ago(0)})
    assert monthly["range"]["bucket"] == "month" and 12 <= len(monthly["growth"]) <= 13
    assert sum(p["new"] for p in monthly["growth"]) == 5 and monthly["growth"][0]["cumulative"] >= 0


def test_date_range_counts_what_happened_in_it(api, world, data):
    # 55 to 45 days ago: a1 and a2 existed; a1 had a call 48 days ago (while its newest
    # activity is recent), a2 a call 50 days ago; one message to a1.
    body = get(api, world.admin, **{"from": day_ago(55), "to": day_ago(45)})
    assert body["contacts"]["total"] == 2 and body["contacts"]["new"] == 0 and body["contacts"]["active"] == 2
    assert body["messages"]["sent"] == 1 and body["messages"]["delivered"] == 1
    # a1's reply 2 days ago is after the range: not a response within it
    assert body["responses"] == {"texted": 1, "replied": 0, "rate": 0.0}
    assert reps(body) == {"Alice Rep": {"call": 2}}
    # A single day
    one = get(api, world.admin, **{"from": day_ago(5), "to": day_ago(5)})
    assert one["contacts"]["new"] == 1 and one["range"]["days"] == 1 and len(one["growth"]) == 1


def test_team_filter(api, world, data):
    body = get(api, world.admin, team=world.team_b.pk)
    assert body["contacts"]["total"] == 1 and stages(body)["customer"] == 1
    assert body["messages"]["pending"] == 1 and body["messages"]["sent"] == 0
    assert reps(body) == {"Rita Rep": {"meeting_held": 1}}
    assert body["filters"] == {"team": world.team_b.pk, "industry": ""}


def test_industry_filter_ignores_capitalization(api, world, data):
    body = get(api, world.admin, industry="  SOFTWARE ")
    assert body["contacts"]["total"] == 3 and body["filters"]["industry"] == "SOFTWARE"
    assert stages(body) == {"lead": 1, "mql": 1, "sql": 0, "opportunity": 0, "customer": 1, "evangelist": 0}
    assert body["messages"]["sent"] == 4 and body["messages"]["pending"] == 0
    assert body["messages"]["received"] == 3  # the unmatched inbound text has no industry
    # the filter still offers every industry
    assert [i.lower() for i in body["industries"]] == ["retail", "software"]
    both = get(api, world.admin, industry="retail", team=world.team_a.pk)
    assert both["contacts"]["total"] == 1 and reps(both) == {"Ada Admin": {"note": 1}}


def test_rep_counts_only_their_book(api, world, data):
    body = get(api, world.alice)
    assert body["contacts"] == {"total": 3, "active": 2, "new": 1, "sms_opted_in": 1,
                                "sms_opt_in_rate": round(1 / 3, 4)}
    assert body["messages"] == {"sent": 2, "delivered": 1, "failed": 1, "pending": 1, "received": 2,
                                "delivery_rate": 0.5}
    assert body["responses"] == {"texted": 2, "replied": 1, "rate": 0.5}
    assert reps(body) == {"Alice Rep": {"call": 1, "note": 1}, "Ada Admin": {"note": 1}}
    # Choosing another team narrows further, never widens
    other_team = get(api, world.alice, team=world.team_b.pk)
    assert other_team["contacts"]["total"] == 0 and other_team["activities"]["by_rep"] == []


def test_manager_counts_their_team(api, world, data):
    body = get(api, world.manager_b)
    assert body["contacts"]["total"] == 1 and reps(body) == {"Rita Rep": {"meeting_held": 1}}


def test_other_organization_sees_only_its_own(api, world, data):
    body = get(api, world.charlie)
    assert body["contacts"] == {"total": 1, "active": 1, "new": 1, "sms_opted_in": 1, "sms_opt_in_rate": 1.0}
    assert body["messages"]["sent"] == 1 and body["responses"] == {"texted": 1, "replied": 1, "rate": 1.0}
    assert reps(body) == {"Charlie Other": {"call": 1}}
    assert body["industries"] == ["Software"]
    # Another organization's team is not a choice
    response = api(world.charlie).get(URL, {"team": world.team_a.pk})
    assert response.status_code == 400 and "team" in response.json()


def test_anonymous_and_members_without_organization(api, world, data):
    assert api().get(URL).status_code in (401, 403)
    from crm.models import User

    lonely = User.objects.create_user("lonely@kith.test", "x-very-long-password-1")
    assert api(lonely).get(URL).status_code == 403


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
    ({"from": "1800-01-01"}, "from"),
    ({"from": "2000-01-01", "to": "2020-01-01"}, "from"),
    ({"team": "abc"}, "team"),
    ({"team": "999999"}, "team"),
    ({"team": "99999999999999999999"}, "team"),
    ({"industry": "soft\x00ware"}, "industry"),
    ({"industry": "x" * 200}, "industry"),
    ({"since": "2026-01-01"}, "since"),
])
def test_bad_parameters_are_a_400_naming_them(api, world, params, field):
    response = api(world.admin).get(URL, params)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field], response.json()


def test_query_count_is_constant_as_data_grows(api, world, data, django_assert_max_num_queries):
    # membership + throttle and audit-context bookkeeping + the team lookup + 5 metric queries
    def count(user, **params):
        client = api(user)  # a fresh user: the scope lookup is counted every time
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, params).status_code == 200
        return len(queries)

    before = {who: count(user, team=world.team_a.pk) for who, user in (("admin", world.admin),
                                                                       ("rep", world.alice))}
    before_unfiltered = count(world.admin)
    grow(world, 12)
    assert {who: count(user, team=world.team_a.pk) for who, user in (("admin", world.admin),
                                                                     ("rep", world.alice))} == before
    assert count(world.admin) == before_unfiltered
    for user in (world.admin, world.alice, world.manager_a):
        client = api(user)
        with django_assert_max_num_queries(13):
            assert client.get(URL, {"industry": "software"}).status_code == 200


def test_listed_in_the_api_root_and_schema(api, world):
    assert "dashboard" in api(world.admin).get("/api/").json()
    schema = api(world.admin).get("/api/schema/").content.decode()
    assert "/api/dashboard/:" in schema


def test_company_activities_count_without_contact_filters(api, world, data):
    from activities.services import log_activity
    from companies.models import Company

    co = Company.objects.create(organization=world.org, name="Initech", domain="initech.test")
    log_activity(organization_id=world.org.pk, data={"company": co, "type": "note"}, actor=world.bob)
    assert reps(get(api, world.admin))["Bob Rep"] == {"call": 1, "note": 1}
    # A team or industry filter is about contacts: company-only activities drop out.
    assert reps(get(api, world.admin, team=world.team_a.pk))["Bob Rep"] == {"call": 1}


def test_contacts_in_the_trash_and_their_rows_do_not_count(api, world, data):
    from django.utils import timezone

    from contacts.models import Contact

    Contact.all_objects.filter(pk=data.b1.pk).update(deleted_at=timezone.now())
    body = get(api, world.admin)
    assert body["contacts"]["total"] == 4 and body["contacts"]["sms_opted_in"] == 2
    assert body["messages"]["sent"] == 2 and body["responses"] == {"texted": 3, "replied": 1, "rate": round(1 / 3, 4)}
    assert "Bob Rep" not in reps(body)
