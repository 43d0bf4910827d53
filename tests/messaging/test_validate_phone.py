"""POST /api/contacts/validate-phone/: phonenumbers' answers for any member, and Twilio Lookup's
carrier and line type only for an organization on Twilio with credentials (Twilio faked at its
HTTP layer: the SDK's client and our code really run)."""

from __future__ import annotations

import pytest

from messaging.models import MessagingSettings
from tests.messaging.conftest import ACCOUNT_SID, TOKEN

pytestmark = pytest.mark.django_db

URL = "/api/contacts/validate-phone/"
LOOKUP = "lookups.twilio.com/v2/PhoneNumbers/"


def check(api, user, **body):
    return api(user).post(URL, body, format="json")


def test_valid_mobile(world, api):
    data = check(api, world.alice, phone="07400 123456", region="GB").json()
    assert data == {"valid": True, "possible": True, "e164": "+447400123456", "region": "GB",
                    "number_type": "mobile", "national": "07400 123456", "international": "+44 7400 123456",
                    "carrier": None, "line_type": None, "lookup": None, "lookup_error": None}


def test_landline_and_toll_free(world, api):
    data = check(api, world.viewer_a, phone="020 7946 0018", region="gb").json()
    assert (data["valid"], data["number_type"], data["e164"], data["international"]) == (
        True, "fixed_line", "+442079460018", "+44 20 7946 0018")
    data = check(api, world.viewer_a, phone="+1 800 555 0199").json()
    assert data["number_type"] == "toll_free" and data["region"] == "US"


def test_default_region_is_the_platforms(world, api, settings):
    data = check(api, world.alice, phone="(201) 555-0123").json()
    assert data["e164"] == "+12015550123" and data["region"] == "US"


def test_invalid_but_possible_and_impossible(world, api):
    data = check(api, world.alice, phone="+1 201 055 0123").json()
    assert data["valid"] is False and data["possible"] is True and data["e164"] is None
    data = check(api, world.alice, phone="+44 12").json()
    assert data["valid"] is False and data["possible"] is False and data["number_type"] is None


@pytest.mark.parametrize("body, field", [
    ({"phone": "not a phone"}, "phone"),
    ({"phone": "0201234567", "region": "XX"}, "region"),
    ({"phone": "0201234567", "region": ""}, "region"),
    ({}, "phone"),
    ({"region": "GB"}, "phone"),
    ({"phone": "+12015550123", "carrier": "x"}, "carrier"),
])
def test_bad_input_is_400_naming_the_field(world, api, body, field):
    response = api(world.alice).post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()


def test_anonymous_is_refused(world, api):
    assert api().post(URL, {"phone": "+12015550123"}, format="json").status_code in (401, 403)


def test_routes_before_the_contact_detail_route(world, api):
    assert api(world.alice).get(URL).status_code == 405  # not "contact validate-phone not found"


@pytest.fixture
def on_twilio(world):
    return MessagingSettings.objects.create(organization=world.org, backend="twilio",
                                            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=TOKEN,
                                            twilio_from_number="+14155550100")


def test_twilio_lookup_gives_carrier_and_line_type(world, api, on_twilio, fake_twilio):
    fake_twilio.routes[LOOKUP + "+447400123456"] = (200, {
        "phone_number": "+447400123456", "country_code": "GB", "valid": True,
        "line_type_intelligence": {"carrier_name": "EE Limited", "type": "mobile", "error_code": None,
                                   "mobile_country_code": "234", "mobile_network_code": "30"}})
    data = check(api, world.alice, phone="07400 123456", region="GB").json()
    assert (data["carrier"], data["line_type"], data["lookup"], data["lookup_error"]) == (
        "EE Limited", "mobile", "twilio", None)
    assert data["number_type"] == "mobile"
    [request] = fake_twilio.requests
    assert request["method"] == "GET" and request["url"].endswith(LOOKUP + "+447400123456")
    assert request["params"] == {"Fields": "line_type_intelligence"}
    assert request["auth"] == (ACCOUNT_SID, TOKEN)


def test_twilio_lookup_failure_is_reported_not_raised(world, api, on_twilio, fake_twilio):
    fake_twilio.routes[LOOKUP] = (401, {"code": 20003, "message": "Authenticate", "status": 401})
    response = check(api, world.alice, phone="+447400123456")
    assert response.status_code == 200
    data = response.json()
    assert data["valid"] is True and data["carrier"] is None and data["lookup"] == "twilio"
    assert "401" in data["lookup_error"]


def test_no_lookup_for_invalid_numbers_console_backend_or_missing_credentials(world, api, on_twilio,
                                                                               fake_twilio, settings):
    assert check(api, world.alice, phone="+1 201 055 0123").json()["lookup"] is None
    settings.TWILIO_AUTH_TOKEN = ""
    MessagingSettings.objects.filter(pk=on_twilio.pk).update(backend="console")
    assert check(api, world.alice, phone="+447400123456").json()["lookup"] is None
    MessagingSettings.objects.filter(pk=on_twilio.pk).update(backend="twilio", twilio_auth_token="")
    assert check(api, world.alice, phone="+447400123456").json()["lookup"] is None
    assert fake_twilio.requests == []


def test_another_organizations_twilio_is_not_used(world, api, fake_twilio):
    MessagingSettings.objects.create(organization=world.other_org, backend="twilio",
                                     twilio_account_sid=ACCOUNT_SID, twilio_auth_token=TOKEN)
    assert check(api, world.alice, phone="+447400123456").json()["lookup"] is None
    assert fake_twilio.requests == []
    fake_twilio.routes[LOOKUP] = (200, {"line_type_intelligence": {"carrier_name": "Vodafone", "type": "mobile"}})
    assert check(api, world.other_rep, phone="+447400123456").json()["carrier"] == "Vodafone"
