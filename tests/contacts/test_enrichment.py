"""Contact enrichment (contacts.enrichment): every source offline (phonenumbers' own data, a DNS
server on this machine, Twilio faked at its HTTP layer), provenance, fill-empty-only, failing /
garbage / slow providers (test providers registered through KITH_ENRICHMENT_PROVIDERS), company
link or creation, and what triggers it (saves that change an input, imports)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import requests
from django.urls import reverse

from companies.models import Company
from contacts import enrichment
from contacts.enrichment import Finding, Provider, ProviderError
from contacts.models import Contact, ContactCompany
from contacts.services import create_contact, update_contact
from contacts.tasks import enrich_contact as enrich_task
from crm.models import Job
from messaging.models import MessagingSettings
from tests.messaging.conftest import ACCOUNT_SID, TOKEN

pytestmark = pytest.mark.django_db

BUILT_IN = ["contacts.enrichment.PhoneProvider", "contacts.enrichment.TwilioLookupProvider",
            "contacts.enrichment.EmailProvider", "contacts.enrichment.EmailDNSProvider",
            "contacts.enrichment.CompanyProvider", "contacts.enrichment.SocialProvider",
            "contacts.enrichment.TimeZoneProvider"]


@pytest.fixture(autouse=True)
def _offline(settings):
    settings.KITH_ENRICHMENT_PROVIDERS = BUILT_IN
    settings.KITH_ENRICHMENT_DNS = False  # tests that ask DNS start their own server


def new(world, **data):
    return create_contact(organization=world.org, data={"first_name": "Ana", "owner": world.alice.pk,
                                                        "team": world.team_a.pk, **data})


def enrich(contact, **kwargs):
    result = enrichment.enrich_contact(contact.pk, **kwargs)
    contact.refresh_from_db()
    return result


def values(contact):
    return contact.enrichment["values"]


def state(contact, name):
    return contact.enrichment["providers"][name]


@pytest.fixture
def fake_twilio(settings):
    """Twilio answered at its HTTP layer (as in tests/messaging)."""
    from tests.messaging.conftest import FakeTwilioRoutes

    settings.KITH_TWILIO_HTTP_CLIENT = "tests.messaging.conftest.FakeTwilioRoutes"
    FakeTwilioRoutes.routes, FakeTwilioRoutes.requests = {}, []
    yield FakeTwilioRoutes
    FakeTwilioRoutes.routes, FakeTwilioRoutes.requests = {}, []


# --- phone --------------------------------------------------------------------------------------

def test_phone_facts_from_phonenumbers_data_and_time_zone(world):
    contact = new(world, mobile="+4915123456789", phone="+12125550123")
    enrich(contact)
    v = values(contact)
    assert v["mobile.e164"]["value"] == "+4915123456789"
    assert v["mobile.region"]["value"] == "DE"
    assert v["mobile.number_type"]["value"] == "mobile"
    assert v["mobile.carrier"]["value"] == "T-Mobile"  # the range's original carrier, from phonenumbers' data
    assert v["mobile.time_zones"]["value"] == ["Europe/Berlin"]
    assert v["phone.region"]["value"] == "US" and v["phone.place"]["value"] == "New York, NY"
    assert v["phone.time_zones"]["value"] == ["America/New_York"]
    # The mobile is asked first for the time zone: one zone, so it fills the empty field.
    uk = new(world, first_name="Bea", mobile="+447400123456")
    enrich(uk)
    assert len(values(uk)["mobile.time_zones"]["value"]) == 4 and uk.timezone == ""  # London, Jersey, …
    assert contact.timezone == "Europe/Berlin"
    assert v["timezone"] == {**v["timezone"], "value": "Europe/Berlin", "source": "timezone", "applied": True}
    assert state(contact, "phone")["status"] == "ok"
    assert state(contact, "twilio")["status"] == "skipped"  # the organization does not send through Twilio


def test_facts_of_a_removed_input_go_values_it_filled_stay(world):
    contact = new(world, mobile="+4915123456789", email="ana@pagato.io")
    enrich(contact)
    assert "mobile.e164" in values(contact) and contact.timezone == "Europe/Berlin"
    update_contact(contact=Contact.objects.get(pk=contact.pk), data={"mobile": ""})
    enrich(contact)
    assert not [key for key in values(contact) if key.startswith("mobile.")]
    assert contact.timezone == "Europe/Berlin" and values(contact)["timezone"]["applied"] is True
    assert values(contact)["email.domain"]["value"] == "pagato.io"


def test_history_names_enrichment_and_updated_at_stays(world):
    from crm.audit import history_for

    contact = new(world, mobile="+4915123456789")
    updated_at = Contact.objects.get(pk=contact.pk).updated_at
    enrich(contact)
    assert contact.timezone == "Europe/Berlin" and contact.updated_at == updated_at
    [event] = [e for e in history_for(contact) if (e.pgh_diff or {}).get("timezone")]
    assert event.pgh_context["source"] == "enrichment" and event.pgh_context.get("user") is None
    assert event.pgh_diff["timezone"] == ["", "Europe/Berlin"]
    # Who pressed Enrich (or ran the import) is named.
    other = new(world, first_name="Bea", mobile="+33612345678")
    enrich(other, actor_id=world.alice.pk)
    [event] = [e for e in history_for(other) if (e.pgh_diff or {}).get("timezone")]
    assert (event.pgh_context["source"], event.pgh_context["user"]) == ("enrichment", world.alice.pk)


def test_provenance_keeps_source_time_and_confidence(world):
    contact = new(world, mobile="+4915123456789")
    enrich(contact)
    entry = values(contact)["mobile.carrier"]
    assert set(entry) == {"value", "source", "at", "confidence", "applied"}
    assert entry["source"] == "phone" and 0 < entry["confidence"] < 1
    assert entry["at"] == contact.enrichment["enriched_at"]
    assert contact.enrichment["providers"]["phone"]["at"] == entry["at"]


def test_address_country_with_one_zone_wins_several_zones_leave_it_empty(world):
    paris = new(world, country="FR", phone="+12125550123", email="a@example.com")
    enrich(paris)
    assert paris.timezone == "Europe/Paris"
    assert values(paris)["timezone"]["confidence"] == 0.85
    wide = new(world, first_name="Wide", country="US", email="b@example.com")
    enrich(wide)
    assert wide.timezone == "" and "timezone" not in values(wide)
    assert state(wide, "timezone")["status"] == "skipped"
    assert "several time zones" in state(wide, "timezone")["reason"]


@pytest.fixture
def on_twilio(world):
    return MessagingSettings.objects.create(organization=world.org, backend="twilio", twilio_account_sid=ACCOUNT_SID,
                                            twilio_auth_token=TOKEN, twilio_from_number="+14155550100")


def test_twilio_lookup_when_configured_and_not_bought_twice(world, on_twilio, fake_twilio):
    fake_twilio.routes["lookups.twilio.com/v2/PhoneNumbers/+447400123456"] = (200, {
        "phone_number": "+447400123456", "valid": True,
        "line_type_intelligence": {"carrier_name": "EE Limited", "type": "mobile", "error_code": None}})
    contact = new(world, mobile="+447400123456")
    enrich(contact)
    assert values(contact)["mobile.current_carrier"] == {**values(contact)["mobile.current_carrier"],
                                                         "value": "EE Limited", "source": "twilio", "confidence": 0.95}
    assert values(contact)["mobile.carrier"]["source"] == "phone"  # the range's carrier, from phonenumbers
    assert values(contact)["mobile.line_type"]["value"] == "mobile"
    assert state(contact, "twilio")["status"] == "ok"
    assert [r["url"].rsplit("/", 1)[1] for r in fake_twilio.requests] == ["+447400123456"]
    looked_up_at = values(contact)["mobile.current_carrier"]["at"]
    # Another input changed, the number did not: Twilio is not asked again, its answer stands.
    update_contact(contact=Contact.objects.get(pk=contact.pk), data={"email": "ana@example.com"})
    enrich(contact)
    assert len(fake_twilio.requests) == 1
    assert state(contact, "twilio") == {**state(contact, "twilio"), "status": "ok",
                                        "reason": "Looked up before; the numbers did not change."}
    assert values(contact)["mobile.current_carrier"]["at"] == looked_up_at
    # The Enrich button asks again.
    enrich(contact, force=True)
    assert len(fake_twilio.requests) == 2
    assert values(contact)["mobile.current_carrier"]["at"] > looked_up_at


def test_twilio_failure_is_recorded_and_keeps_earlier_values(world, on_twilio, fake_twilio):
    fake_twilio.routes["lookups.twilio.com/v2/PhoneNumbers/"] = (200, {
        "phone_number": "+447400123456", "valid": True,
        "line_type_intelligence": {"carrier_name": "EE Limited", "type": "mobile", "error_code": None}})
    contact = new(world, mobile="+447400123456")
    enrich(contact)
    fake_twilio.routes["lookups.twilio.com/v2/PhoneNumbers/"] = (500, {"code": 20500, "message": "Down",
                                                                     "status": 500})
    enrich(contact, force=True)
    assert state(contact, "twilio")["status"] == "failed" and "500" in state(contact, "twilio")["reason"]
    assert values(contact)["mobile.current_carrier"]["value"] == "EE Limited"  # the earlier answer stays
    assert values(contact)["mobile.carrier"]["source"] == "phone"


# --- email, DNS, company ------------------------------------------------------------------------

def test_email_business_free_and_disposable(world):
    business = new(world, email="ana@pagato.io")
    enrich(business)
    v = values(business)
    assert (v["email.valid"]["value"], v["email.free"]["value"], v["email.disposable"]["value"]) == (True, False, False)
    assert v["email.domain"]["value"] == "pagato.io"
    free = new(world, first_name="Bea", email="bea@gmail.com")
    enrich(free)
    assert values(free)["email.free"]["value"] is True
    disposable = new(world, first_name="Cy", email="cy@mailinator.com")
    enrich(disposable)
    assert values(disposable)["email.disposable"]["value"] is True


def test_dns_off_or_unreachable_is_not_checked_not_a_failure(world, settings):
    contact = new(world, email="ana@pagato.io")
    enrich(contact)
    assert state(contact, "email_dns")["status"] == "not_checked"
    assert "KITH_ENRICHMENT_DNS" in state(contact, "email_dns")["reason"]
    assert "email.deliverable" not in values(contact)
    settings.KITH_ENRICHMENT_DNS = True
    settings.KITH_ENRICHMENT_NAMESERVERS = [f"127.0.0.1:{free_udp_port()}"]  # nobody answers there
    settings.KITH_ENRICHMENT_DNS_TIMEOUT = 0.3
    other = new(world, first_name="Bo", email=f"bo@{uuid.uuid4().hex[:8]}.example.org")
    started = time.monotonic()
    enrich(other)
    assert time.monotonic() - started < 5
    assert state(other, "email_dns")["status"] == "not_checked"
    assert state(other, "email") ["status"] == "ok" and values(other)["email.valid"]["value"] is True


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DNSServer:
    """A DNS server on 127.0.0.1 (UDP) answering MX for `mx` domains, NXDOMAIN for the rest."""

    def __init__(self, mx: dict[str, str]):
        self.mx, self.queries = mx, []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                data, address = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text().rstrip(".")
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            if name not in self.mx:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.MX:
                response.answer.append(dns.rrset.from_text(question.name, 300, "IN", "MX", f"10 {self.mx[name]}."))
            self.sock.sendto(response.to_wire(), address)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def dns_server(settings):
    suffix = uuid.uuid4().hex[:8]  # fresh domains: answers are cached per domain
    server = DNSServer({f"pagato-{suffix}.io": f"mx1.pagato-{suffix}.io"})
    server.suffix = suffix
    settings.KITH_ENRICHMENT_DNS = True
    settings.KITH_ENRICHMENT_NAMESERVERS = [f"127.0.0.1:{server.port}"]
    settings.KITH_ENRICHMENT_DNS_TIMEOUT = 1
    yield server
    server.close()


def test_mx_lookup_deliverable_undeliverable_and_cached_per_domain(world, dns_server):
    domain = f"pagato-{dns_server.suffix}.io"
    ana = new(world, email=f"ana@{domain}")
    enrich(ana)
    assert state(ana, "email_dns")["status"] == "ok"
    assert values(ana)["email.deliverable"]["value"] is True
    assert values(ana)["email.mx"]["value"] == [f"mx1.{domain}"]
    asked = len(dns_server.queries)
    assert (domain, "MX") in dns_server.queries
    bea = new(world, first_name="Bea", email=f"bea@{domain}")
    enrich(bea)
    assert values(bea)["email.deliverable"]["value"] is True
    assert len(dns_server.queries) == asked  # the domain's answer came from the cache
    gone = new(world, first_name="Cy", email=f"cy@gone-{dns_server.suffix}.io")
    enrich(gone)
    assert values(gone)["email.deliverable"]["value"] is False
    assert "does not exist" in values(gone)["email.problem"]["value"]


def test_company_created_from_business_domain_then_reused(world):
    ana = new(world, email="ana@pagato-labs.io")
    enrich(ana)
    company = Company.objects.get(organization=world.org, domain="pagato-labs.io")
    assert company.name == "Pagato Labs" and company.owner == world.alice  # the contact's owner may edit it
    link = ContactCompany.objects.get(contact=ana)
    assert link.company == company and link.is_primary
    assert values(ana)["company"]["value"] == {"id": company.pk, "name": "Pagato Labs", "domain": "pagato-labs.io",
                                               "created": True}
    ana.refresh_from_db()
    assert ana.company_name == "Pagato Labs"
    bea = new(world, first_name="Bea", email="bea@pagato-labs.io")
    enrich(bea)
    assert Company.objects.filter(domain="pagato-labs.io").count() == 1
    assert values(bea)["company"]["value"]["created"] is False
    assert ContactCompany.objects.get(contact=bea).company == company


def test_existing_company_of_the_org_is_linked_other_orgs_are_not_used(world):
    Company.objects.create(organization=world.other_org, name="Elsewhere", domain="bolt.io")
    mine = Company.objects.create(organization=world.org, name="Bolt Inc.", domain="bolt.io")
    contact = new(world, email="ana@bolt.io")
    enrich(contact)
    assert ContactCompany.objects.get(contact=contact).company == mine
    assert Company.objects.filter(organization=world.org, domain="bolt.io").count() == 1


def test_existing_link_is_respected(world):
    own = Company.objects.create(organization=world.org, name="Chosen Co")
    contact = new(world, email="ana@pagato.io")
    ContactCompany.objects.create(organization=world.org, contact=contact, company=own, is_primary=True)
    enrich(contact)
    assert list(ContactCompany.objects.filter(contact=contact).values_list("company__name", flat=True)) == [
        "Chosen Co"]
    assert not Company.objects.filter(domain="pagato.io").exists()
    assert values(contact)["company"]["applied"] is False


@pytest.mark.parametrize("email, reason", [("ana@gmail.com", "mailbox provider"),
                                           ("ana@mailinator.com", "disposable")])
def test_no_company_for_free_mail_or_disposable_domains(world, email, reason):
    contact = new(world, email=email)
    enrich(contact)
    assert not ContactCompany.objects.filter(contact=contact).exists()
    assert Company.objects.filter(organization=world.org).count() == 0
    assert state(contact, "company")["status"] == "skipped" and reason in state(contact, "company")["reason"]


# --- social -------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, url", [
    ("linkedin.com/in/ana-souza/", "https://www.linkedin.com/in/ana-souza"),
    ("https://de.linkedin.com/in/ana-souza?trk=x", "https://www.linkedin.com/in/ana-souza"),
    ("http://www.LinkedIn.com/company/pagato", "https://www.linkedin.com/company/pagato"),
    ("ana souza", ""),
])
def test_normalize_linkedin(typed, url):
    assert enrichment.normalize_linkedin(typed) == url


@pytest.mark.parametrize("typed, handle", [
    ("https://x.com/AnaSouza", "@AnaSouza"), ("twitter.com/@ana_s?lang=en", "@ana_s"), ("AnaSouza", "@AnaSouza"),
    ("@ana", "@ana"), ("https://example.com/ana", ""), ("far too long a handle", ""),
])
def test_normalize_twitter(typed, handle):
    assert enrichment.normalize_twitter(typed) == handle


@pytest.mark.parametrize("typed, handle", [
    ("https://t.me/ana_souza", "@ana_souza"), ("telegram.me/ana_souza/", "@ana_souza"), ("@ana_souza", "@ana_souza"),
    ("ana_souza", "@ana_souza"), ("ana", ""), ("https://example.com/ana_souza", ""),
])
def test_normalize_telegram(typed, handle):
    assert enrichment.normalize_telegram(typed) == handle


def test_telegram_link_as_website_fills_the_empty_telegram(world):
    contact = new(world, website="https://t.me/ana_souza")
    enrich(contact)
    assert contact.telegram == "@ana_souza" and values(contact)["telegram"]["confidence"] == 0.9
    assert values(contact)["telegram.url"]["value"] == "https://t.me/ana_souza"
    assert contact.linkedin == "" and contact.twitter == ""


def test_social_fills_empty_fields_and_keeps_typed_ones(world):
    contact = new(world, website="https://www.linkedin.com/in/ana-souza/", twitter="x.com/AnaSouza")
    enrich(contact)
    assert contact.linkedin == "https://www.linkedin.com/in/ana-souza"  # was empty: filled from the website
    assert values(contact)["linkedin"]["applied"] is True and values(contact)["linkedin"]["confidence"] == 0.9
    assert contact.twitter == "x.com/AnaSouza"  # typed: kept as typed
    assert values(contact)["twitter"] == {**values(contact)["twitter"], "value": "@AnaSouza", "applied": False}
    assert values(contact)["twitter.url"]["value"] == "https://x.com/AnaSouza"


# --- fill empty only ----------------------------------------------------------------------------

def test_typed_value_is_kept_and_own_values_follow_their_input(world):
    typed = new(world, mobile="+4915123456789", timezone="Asia/Tokyo")
    enrich(typed)
    assert typed.timezone == "Asia/Tokyo"
    assert values(typed)["timezone"] == {**values(typed)["timezone"], "value": "Europe/Berlin", "applied": False}

    ours = new(world, first_name="Bea", mobile="+4915123456789")
    enrich(ours)
    assert ours.timezone == "Europe/Berlin"
    update_contact(contact=Contact.objects.get(pk=ours.pk), data={"mobile": "+33612345678"})
    enrich(ours)
    assert ours.timezone == "Europe/Paris"  # enrichment's own value follows the new number
    # Once a person types over it, it is theirs.
    update_contact(contact=Contact.objects.get(pk=ours.pk), data={"timezone": "Europe/Lisbon"})
    update_contact(contact=Contact.objects.get(pk=ours.pk), data={"mobile": "+4915123456789"})
    enrich(ours)
    assert ours.timezone == "Europe/Lisbon" and values(ours)["timezone"]["applied"] is False


def test_value_typed_while_providers_ran_wins(world, settings):
    contact = new(world, mobile="+4915123456789")

    class TypingProvider(Provider):
        name = "typing"

        def enrich(self, snapshot):
            Contact.objects.filter(pk=snapshot.pk).update(timezone="America/Lima")  # a person's save meanwhile
            return []

    TypingProviders.cls = TypingProvider
    settings.KITH_ENRICHMENT_PROVIDERS = ["tests.contacts.test_enrichment.TypingProviders",
                                          "contacts.enrichment.TimeZoneProvider"]
    enrich(contact)
    assert contact.timezone == "America/Lima"


class TypingProviders(Provider):
    cls = None
    name = "typing"

    def enrich(self, snapshot):
        return self.cls().enrich(snapshot)


# --- failing providers --------------------------------------------------------------------------

class Calls:
    count: dict = {}


class GarbageProvider(Provider):
    name, label = "garbage", "Garbage Inc."

    def enrich(self, contact):
        Calls.count["garbage"] = Calls.count.get("garbage", 0) + 1
        return [Finding("twitter", "@fine", 0.9), Finding("timezone", "Mars/Olympus_Mons", 0.9)]


class NotAListProvider(Provider):
    name = "notalist"

    def enrich(self, contact):
        return {"timezone": "Europe/Rome"}


class BadConfidenceProvider(Provider):
    name = "confidence"

    def enrich(self, contact):
        return [Finding("timezone", "Europe/Rome", 7)]


class RefusingProvider(Provider):
    name = "refusing"

    def enrich(self, contact):
        raise ProviderError("Quota exceeded (HTTP 429).")


class BuggyProvider(Provider):
    name = "buggy"

    def enrich(self, contact):
        return [Finding("timezone", "Europe/Rome")][3]


class SlowServer:
    url = ""


class SlowProvider(Provider):
    """A paid provider's HTTP API that does not answer in time."""

    name = "slow"

    def enrich(self, contact):
        Calls.count["slow"] = Calls.count.get("slow", 0) + 1
        answer = requests.get(SlowServer.url, timeout=0.2).json()
        return [Finding("timezone", answer["timezone"], 0.9)]


class GoodProvider(Provider):
    name = "good"

    def enrich(self, contact):
        Calls.count["good"] = Calls.count.get("good", 0) + 1
        return [Finding("good.seen", True, 1.0)]


@pytest.fixture
def slow_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(1)
            try:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"timezone": "Europe/Rome"}')
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SlowServer.url = f"http://127.0.0.1:{server.server_address[1]}/person"
    yield server
    server.shutdown()
    server.server_close()


HERE = "tests.contacts.test_enrichment"


@pytest.mark.parametrize("provider, reason", [
    ("GarbageProvider", "Returned garbage: 'Mars/Olympus_Mons' is not a valid timezone"),
    ("NotAListProvider", "Returned garbage: expected a list of findings, got dict"),
    ("BadConfidenceProvider", "Returned garbage: confidence 7 is not between 0 and 1"),
    ("RefusingProvider", "Quota exceeded (HTTP 429)."),
    ("BuggyProvider", "IndexError: list index out of range"),
    ("SlowProvider", "Timed out"),
])
def test_failing_provider_is_recorded_with_reason_and_overwrites_nothing(world, settings, slow_server, provider,
                                                                        reason):
    contact = new(world, mobile="+4915123456789", twitter="")
    enrich(contact)
    before = Contact.objects.get(pk=contact.pk)
    assert before.timezone == "Europe/Berlin"
    Contact.objects.filter(pk=contact.pk).update(timezone="")  # empty again: a provider could fill it
    settings.KITH_ENRICHMENT_PROVIDERS = [f"{HERE}.{provider}"]
    result = enrich(contact)
    assert result["failed"] == [provider_name(provider)]
    got = state(contact, provider_name(provider))
    assert got["status"] == "failed" and got["reason"].startswith(reason), got
    assert contact.timezone == "" and contact.twitter == ""
    assert values(contact)["timezone"]["value"] == "Europe/Berlin"  # the earlier provenance stays
    assert "twitter" not in values(contact)  # nothing of a garbage answer is used, even its fine part
    assert state(contact, "phone")["status"] == "ok"  # other providers' states stay


def provider_name(cls_name):
    import tests.contacts.test_enrichment as module

    return getattr(module, cls_name).name


def test_failed_provider_is_retried_alone_with_bounded_backoff(world, settings, slow_server):
    settings.KITH_ENRICHMENT_PROVIDERS = [f"{HERE}.GoodProvider", f"{HERE}.SlowProvider"]
    settings.KITH_ENRICHMENT_MAX_RETRIES = 2
    Calls.count = {}
    contact = new(world)
    result = enrich_task.apply(args=[contact.pk])  # eager: the retries run here, one after the other
    assert result.get() == ["slow"]
    assert Calls.count == {"good": 1, "slow": 3}  # first run + 2 retries of the failed provider only
    contact.refresh_from_db()
    assert state(contact, "slow") == {**state(contact, "slow"), "status": "failed", "attempts": 3}
    assert state(contact, "good")["status"] == "ok"
    assert [enrichment.retry_delay(n) for n in range(3)] == [30, 60, 120]
    assert enrichment.retry_delay(20) == 3600


def test_provider_recovering_on_retry_is_ok(world, settings):
    class Flaky(Provider):
        name = "flaky"

        def enrich(self, contact):
            Calls.count["flaky"] = Calls.count.get("flaky", 0) + 1
            if Calls.count["flaky"] == 1:
                raise TimeoutError("read timed out")
            return [Finding("timezone", "Europe/Rome", 0.9)]

    TypingProviders.cls = Flaky
    settings.KITH_ENRICHMENT_PROVIDERS = [f"{HERE}.TypingProviders"]
    Calls.count = {}
    contact = new(world)
    assert enrich_task.apply(args=[contact.pk]).get() == []
    contact.refresh_from_db()
    assert contact.timezone == "Europe/Rome" and state(contact, "typing")["status"] == "ok"


# --- triggers -----------------------------------------------------------------------------------

def scheduled(callbacks) -> int:
    return sum(1 for c in callbacks if c.__module__ == "contacts.enrichment" and c.__qualname__.startswith("schedule."))


def test_saves_that_change_inputs_schedule_enrichment_and_its_own_write_does_not(world,
                                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        contact = new(world, email="ana@example.com", website="https://linkedin.com/in/ana")
    assert scheduled(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        update_contact(contact=Contact.objects.get(pk=contact.pk), data={"job_title": "CTO"})
    assert scheduled(callbacks) == 0
    with django_capture_on_commit_callbacks() as callbacks:
        update_contact(contact=Contact.objects.get(pk=contact.pk), data={"mobile": "+4915123456789"})
    assert scheduled(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        enrichment.enrich_contact(contact.pk)
    assert scheduled(callbacks) == 0
    assert Contact.objects.get(pk=contact.pk).timezone == "Europe/Berlin"
    assert Contact.objects.get(pk=contact.pk).linkedin == "https://www.linkedin.com/in/ana"  # an input
    with django_capture_on_commit_callbacks() as callbacks:
        Contact.objects.get(pk=contact.pk).save()  # a full save of the enriched row changes no input
    assert scheduled(callbacks) == 0
    contact.refresh_from_db()
    with django_capture_on_commit_callbacks() as callbacks:
        contact.save()  # nor does one of an instance refreshed after enrichment
    assert scheduled(callbacks) == 0


def test_import_queues_one_batch_job_with_progress(world, client, django_capture_on_commit_callbacks):
    from tests.contacts.test_imports import run_import

    rows = [["First Name", "Email", "Mobile Phone"]] + [
        [f"P{i}", f"p{i}@pagato-import.io", "+4915123456789"] for i in range(5)]
    with django_capture_on_commit_callbacks() as callbacks:
        imp = run_import(world.manager_a, rows)
    assert imp.stage == "imported", imp.error
    assert scheduled(callbacks) == 0  # not one task per row
    job = Job.objects.get(organization=world.org, kind="enrich")
    ids = sorted(Contact.objects.filter(email__endswith="@pagato-import.io").values_list("pk", flat=True))
    assert job.params == {"import": imp.pk, "ids": ids} and job.total == 5 and job.actor == world.manager_a
    client.force_login(world.manager_a)
    page = client.get(reverse("contacts:import_detail", args=[imp.pk])).content.decode()
    assert "Enrichment of 5 contacts is queued." in page
    enrichment.run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.processed, job.succeeded, job.failed) == ("done", 5, 5, 0)
    page = client.get(reverse("contacts:import_detail", args=[imp.pk])).content.decode()
    assert "Enriched 5 of 5 contacts." in page and 'aria-label="Enriched"' in page
    data = client.get(f"/api/imports/{imp.pk}/").json()
    assert data["enrichment"] == {"job": job.pk, "status": "done", "total": 5, "processed": 5, "succeeded": 5,
                                  "failed": 0, "percent": 100, "line": "Enriched 5 of 5 contacts."}
    enriched = Contact.objects.filter(pk__in=ids)
    assert {c.timezone for c in enriched} == {"Europe/Berlin"}
    assert Company.objects.filter(organization=world.org, domain="pagato-import.io").count() == 1
    assert ContactCompany.objects.filter(contact__in=ids).count() == 5
    # Enrichment is not a change "since the import": the import can still be reverted whole.
    from contacts import imports

    imp = imports.start_revert(imp, world.manager_a)
    assert imp.stage == "reverted", imp.error
    assert not Contact.all_objects.filter(pk__in=ids).exists()


def test_deleted_contact_is_left_alone(world):
    contact = new(world, mobile="+447400123456")
    Contact.all_objects.filter(pk=contact.pk).delete()
    assert enrichment.enrich_contact(contact.pk) is None


def test_batch_job_retries_only_the_failed_providers_of_failed_contacts(world, settings,
                                                                        django_capture_on_commit_callbacks):
    settings.KITH_ENRICHMENT_PROVIDERS = [f"{HERE}.GoodProvider", f"{HERE}.RefusingProvider"]
    contacts = [new(world, first_name=f"P{i}") for i in range(3)]
    job = enrichment.start_job(world.org.pk, [c.pk for c in contacts], queue=False)
    with django_capture_on_commit_callbacks() as callbacks:
        enrichment.run_job(job.pk)
    retries = [c for c in callbacks if c.__qualname__.startswith("retry_later.")]
    assert len(retries) == 3
    assert retries[0].__closure__  # the contact and the failed providers travel with the task
    assert {cell.cell_contents for r in retries for cell in r.__closure__ if isinstance(cell.cell_contents, int)} \
        == {c.pk for c in contacts}
    assert all(["refusing"] in [cell.cell_contents for cell in r.__closure__] for r in retries)
    job.refresh_from_db()
    assert (job.status, job.processed, job.succeeded) == ("done", 3, 3)
    for contact in contacts:
        contact.refresh_from_db()
        assert state(contact, "refusing")["status"] == "failed" and state(contact, "good")["status"] == "ok"



def test_erasure_forgets_what_the_cache_holds_of_the_person(world, dns_server):
    from django.core.cache import cache

    from contacts.signals import contact_erasing

    domain = f"pagato-{dns_server.suffix}.io"
    contact = new(world, email=f"ana@{domain}")
    enrich(contact)
    assert cache.get(f"enrichment:mx:{domain}")["deliverable"] is True
    cache.set(f"enrichment:scheduled:{contact.pk}", 1, timeout=60)
    contact_erasing.send(sender=Contact, contact=contact, organization=world.org)
    assert cache.get(f"enrichment:mx:{domain}") is None
    assert cache.get(f"enrichment:scheduled:{contact.pk}") is None
