"""Contact enrichment: what the phone numbers, the email address, the social profiles and the
address tell about a person, kept with its provenance in `Contact.enrichment`.

Providers. A provider is a class with a `name` and `enrich(contact) -> list[Finding]`; the ones
in use are listed (dotted paths) in the KITH_ENRICHMENT_PROVIDERS setting, so a paid data
provider is one more class there. A provider that cannot do its work raises `ProviderError(reason)`
(recorded as failed, retried); one that could not check because something outside is unreachable
(DNS offline) raises `NotChecked(reason)` (recorded as "not checked", not retried); `Skipped`
says there was nothing for it to do (no phone, Twilio not configured).

A finding is (field, value, confidence). `field` is either a contact field enrichment may fill
(FILLABLE: time zone, LinkedIn, Twitter / X) or a fact shown with the contact ("phone.e164",
"email.deliverable", …; FACT_KEY). A provider whose answer is not a list of such findings, or
holds a value its field rejects (an unknown time zone, an over-long handle), "returned garbage":
it is recorded as failed with the reason and none of its findings is used.

Writing. Findings fill a contact field only when it is empty, or still holds the value an earlier
enrichment put there (so a time zone follows a changed phone): a value a person typed is never
overwritten (it stays, the finding is kept as "not applied"). The write happens under the row's
lock and re-reads the row, so a value typed while providers ran wins. The company finding links
the contact to the organization's company with that email domain, creating it if needed, only
when the contact has no company link yet, and never for mailbox providers or disposable domains.

`Contact.enrichment`:
    {"values": {key: {"value", "source", "at", "confidence", "applied"}},
     "providers": {name: {"status": ok|failed|not_checked|skipped, "reason", "at", "attempts"}},
     "enriched_at": iso}

Triggers: a save that changes an input (ENRICHMENT_INPUTS) schedules the contact once the
transaction commits (debounced per contact); the enrichment's own write goes through a queryset
update, so it does not trigger itself. An import queues one batch job over the contacts it
created or updated (`start_job`). The contact page's Enrich button and POST
/api/contacts/{id}/enrich/ queue the contact at once (`request_enrichment`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
import phonenumbers
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger("kith.enrichment")

# What a save must change to ask for enrichment (other saves don't).
ENRICHMENT_INPUTS = ("email", "phone", "mobile", "linkedin", "twitter", "telegram", "website", "street", "city",
                     "region", "postal_code", "country")
# Contact fields a finding may fill (when empty).
FILLABLE = ("timezone", "linkedin", "twitter", "telegram")
FACT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30})?$")
MAX_VALUE_CHARS = 1000

OK, FAILED, NOT_CHECKED, SKIPPED = "ok", "failed", "not_checked", "skipped"
STATUS_LABELS = {OK: "OK", FAILED: "Failed", NOT_CHECKED: "Not checked", SKIPPED: "Nothing to do"}

JOB_KIND = "enrich"
JOB_TASK = "contacts.tasks.run_enrichment_job"
CONTACT_TASK = "contacts.tasks.enrich_contact"
# Contacts per step of the batch job: one transaction that holds their row locks while the
# providers answer, so small enough that a person editing one of them hardly waits.
JOB_BATCH = 25
DEBOUNCE_SECONDS = 2


# --- the provider interface ----------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    field: str
    value: object
    confidence: float = 1.0


class ProviderError(Exception):
    """The provider failed (timed out, answered garbage, refused): recorded and retried."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotChecked(ProviderError):
    """The provider could not check (offline, no answer in time): a state, not a failure."""


class Skipped(ProviderError):
    """Nothing for the provider to do (no input, not configured)."""


class Unchanged(ProviderError):
    """Its inputs did not change since it last answered: what it found then stands (a paid lookup
    is not bought twice; the Enrich button asks again, `contact.force`)."""


class Provider:
    name = "provider"
    label = "Provider"

    def enrich(self, contact) -> list[Finding]:
        raise NotImplementedError


def providers() -> list[Provider]:
    return [import_string(path)() for path in settings.KITH_ENRICHMENT_PROVIDERS]


# --- built-in providers --------------------------------------------------------------------------

_PHONE_TYPES = {value: name.lower() for name, value in vars(phonenumbers.PhoneNumberType).items()
                if name.isupper() and isinstance(value, int)}


def _parse_phone(value):
    text = str(value or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, getattr(settings, "PHONENUMBER_DEFAULT_REGION", None) or "US")
    except phonenumbers.NumberParseException:
        return None
    return number


def phone_zones(number) -> list[str]:
    from phonenumbers import timezone as phone_timezone

    return [z for z in phone_timezone.time_zones_for_number(number) if z and not z.startswith("Etc/")]


class PhoneProvider(Provider):
    """E.164, region, number type, carrier, time zones and place from phonenumbers' own data."""

    name, label = "phone", "Phone numbers"

    def enrich(self, contact):
        from phonenumbers import carrier, geocoder

        findings = []
        for field in ("phone", "mobile"):
            if not contact.values.get(field):
                continue
            number = _parse_phone(contact.values[field])
            if number is None or not phonenumbers.is_valid_number(number):
                findings.append(Finding(f"{field}.valid", False, 1.0))
                continue
            findings += [
                Finding(f"{field}.valid", True, 1.0),
                Finding(f"{field}.e164", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), 1.0),
                Finding(f"{field}.region", phonenumbers.region_code_for_number(number), 1.0),
                Finding(f"{field}.number_type", _PHONE_TYPES.get(phonenumbers.number_type(number), "unknown"), 0.9),
            ]
            name = carrier.name_for_number(number, "en")
            if name:
                findings.append(Finding(f"{field}.carrier", name, 0.6))  # numbers move between carriers
            zones = phone_zones(number)
            if zones:
                findings.append(Finding(f"{field}.time_zones", zones, 0.8))
            place = geocoder.description_for_number(number, "en")
            if place:
                findings.append(Finding(f"{field}.place", place, 0.7))
        if not findings:
            raise Skipped("No phone number.")
        return findings


class TwilioLookupProvider(Provider):
    """Carrier and line type from Twilio Lookup, for organizations sending through Twilio."""

    name, label = "twilio", "Twilio Lookup"

    def enrich(self, contact):
        from messaging.config import sms_config
        from messaging.lookup import twilio_lookup
        from messaging.models import Backend

        config = sms_config(contact.organization_id)
        if not (config.backend == Backend.TWILIO and config.account_sid and config.auth_token):
            raise Skipped("Twilio is not configured for this organization.")
        numbers = {}
        for field in ("mobile", "phone"):
            number = _parse_phone(contact.values.get(field))
            if number is not None and phonenumbers.is_valid_number(number):
                numbers[field] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        looked_up = {field: (contact.previous.get(f"{field}.looked_up") or {}).get("value") for field in numbers}
        if numbers and numbers == looked_up and not contact.force:
            raise Unchanged("Looked up before; the numbers did not change.")
        findings = []
        for field, e164 in numbers.items():
            result = twilio_lookup(config, e164)
            if result.get("lookup_error"):
                raise ProviderError(result["lookup_error"])
            if result.get("carrier"):
                # Its own key: phonenumbers' carrier is the range's original one (numbers get ported).
                findings.append(Finding(f"{field}.current_carrier", result["carrier"], 0.95))
            if result.get("line_type"):
                findings.append(Finding(f"{field}.line_type", result["line_type"], 0.95))
            findings.append(Finding(f"{field}.looked_up", e164, 1.0))
        if not findings and not any(contact.values.get(f) for f in ("mobile", "phone")):
            raise Skipped("No phone number.")
        return findings


def _disposable(domain: str) -> bool:
    from disposable_email_domains import blocklist

    return domain in blocklist


def _free(domain: str) -> bool:
    from contacts.dedupe import FREE_DOMAINS

    return domain in FREE_DOMAINS


def email_domain(email: str) -> str:
    return (email or "").strip().lower().rpartition("@")[2]


class EmailProvider(Provider):
    """Syntax (email-validator), mailbox provider or business domain, disposable domain."""

    name, label = "email", "Email address"

    def enrich(self, contact):
        from email_validator import EmailNotValidError, validate_email

        email = contact.values.get("email") or ""
        if not email:
            raise Skipped("No email address.")
        try:
            info = validate_email(email, check_deliverability=False)
        except EmailNotValidError as exc:
            return [Finding("email.valid", False, 1.0), Finding("email.problem", str(exc)[:200], 1.0)]
        domain = info.ascii_domain.lower()
        return [Finding("email.valid", True, 1.0), Finding("email.domain", domain, 1.0),
                Finding("email.free", _free(domain), 0.9), Finding("email.disposable", _disposable(domain), 0.95)]


def _resolver():
    import dns.resolver

    nameservers = getattr(settings, "KITH_ENRICHMENT_NAMESERVERS", [])
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [ns.rpartition(":")[0] if ":" in ns else ns for ns in nameservers]
        ports = {int(ns.rpartition(":")[2]) for ns in nameservers if ":" in ns}
        if ports:
            resolver.port = ports.pop()
    resolver.lifetime = resolver.timeout = float(getattr(settings, "KITH_ENRICHMENT_DNS_TIMEOUT", 2.0))
    return resolver


def check_mail_domain(domain: str) -> dict:
    """{"deliverable": True|False|None, "mx": [...], "reason": str}, cached per domain (a day for
    an answer, a few minutes for "not checked"). None: not checked (offline, no answer in time)."""
    if not getattr(settings, "KITH_ENRICHMENT_DNS", True):
        return {"deliverable": None, "mx": [], "reason": "DNS checks are turned off (KITH_ENRICHMENT_DNS)."}
    key = f"enrichment:mx:{domain}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    from email_validator import EmailUndeliverableError
    from email_validator.deliverability import validate_email_deliverability

    try:
        info = validate_email_deliverability(domain, domain, dns_resolver=_resolver())
    except EmailUndeliverableError as exc:
        result = {"deliverable": False, "mx": [], "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - no resolver configuration, network unreachable
        result = {"deliverable": None, "mx": [], "reason": f"DNS could not be asked ({type(exc).__name__})."}
    else:
        if "unknown-deliverability" in info:
            result = {"deliverable": None, "mx": [], "reason": f"DNS did not answer ({info['unknown-deliverability']})."}
        else:
            result = {"deliverable": True, "mx": [host for _, host in info.get("mx", [])][:5], "reason": ""}
    timeout = 86400 if result["deliverable"] is not None else 300
    cache.set(key, result, timeout=timeout)
    return result


class EmailDNSProvider(Provider):
    """Deliverability: the domain's MX records (DNS, short timeout, cached per domain)."""

    name, label = "email_dns", "Email deliverability (DNS)"

    def enrich(self, contact):
        email = contact.values.get("email") or ""
        domain = email_domain(email)
        if not domain:
            raise Skipped("No email address.")
        result = check_mail_domain(domain)
        if result["deliverable"] is None:
            raise NotChecked(result["reason"])
        findings = [Finding("email.deliverable", result["deliverable"], 0.9)]
        if result["mx"]:
            findings.append(Finding("email.mx", result["mx"], 1.0))
        if result["reason"]:
            findings.append(Finding("email.problem", result["reason"], 0.9))
        return findings


class CompanyProvider(Provider):
    """The employer from a business email domain (not mailbox providers or disposable domains)."""

    name, label = "company", "Company from email domain"

    def enrich(self, contact):
        domain = email_domain(contact.values.get("email"))
        if not domain or "." not in domain:
            raise Skipped("No email address.")
        if _free(domain):
            raise Skipped(f"{domain} is a mailbox provider.")
        if _disposable(domain):
            raise Skipped(f"{domain} is a disposable address domain.")
        return [Finding("company", domain, 0.8)]


_LINKEDIN = re.compile(r"^(?:https?://)?(?:[a-z]{2,3}\.)?linkedin\.com/(in|company|pub)/([^/?#\s]+)", re.I)
_TWITTER = re.compile(r"^(?:https?://)?(?:www\.|mobile\.)?(?:twitter|x)\.com/(?:#!/)?@?([A-Za-z0-9_]{1,15})"
                      r"(?:[/?#].*)?$", re.I)
_HANDLE = re.compile(r"^@?([A-Za-z0-9_]{1,15})$")
_TELEGRAM = re.compile(r"^(?:(?:https?://)?(?:www\.)?(?:t|telegram)\.me/|@)?([A-Za-z][A-Za-z0-9_]{4,31})/?$", re.I)
_TELEGRAM_URL = re.compile(r"^(?:https?://)?(?:www\.)?(?:t|telegram)\.me/", re.I)


def normalize_linkedin(value: str) -> str:
    """'linkedin.com/in/ana-souza/' -> 'https://www.linkedin.com/in/ana-souza' ('' if not a profile)."""
    match = _LINKEDIN.match((value or "").strip())
    return f"https://www.linkedin.com/{match.group(1).lower()}/{match.group(2)}" if match else ""


def normalize_twitter(value: str) -> str:
    """'https://x.com/AnaSouza', 'twitter.com/@AnaSouza' or 'AnaSouza' -> '@AnaSouza' ('' if not a handle)."""
    value = (value or "").strip()
    match = _TWITTER.match(value) or _HANDLE.match(value)
    return f"@{match.group(1)}" if match else ""


def normalize_telegram(value: str) -> str:
    """'https://t.me/ana_souza', 't.me/ana_souza' or 'ana_souza' -> '@ana_souza' ('' if not a username)."""
    match = _TELEGRAM.match((value or "").strip())
    return f"@{match.group(1)}" if match else ""


class SocialProvider(Provider):
    """LinkedIn profile URLs, Twitter / X and Telegram handles in one canonical form; a profile URL typed
    as the website (or in the other field) fills the empty field it belongs to."""

    name, label = "social", "Social profiles"

    def enrich(self, contact):
        v = contact.values
        findings = []
        for source in ("linkedin", "website", "twitter"):
            url = normalize_linkedin(v.get(source) or "")
            if url:
                findings.append(Finding("linkedin", url, 1.0 if source == "linkedin" else 0.9))
                break
        else:
            if v.get("linkedin"):
                findings.append(Finding("linkedin.problem", "Not a LinkedIn profile URL.", 1.0))
        for source in ("twitter", "website", "linkedin"):
            value = v.get(source) or ""
            handle = normalize_twitter(value) if source == "twitter" else (
                normalize_twitter(value) if _TWITTER.match(value.strip()) else "")
            if handle:
                findings.append(Finding("twitter", handle, 1.0 if source == "twitter" else 0.9))
                findings.append(Finding("twitter.url", f"https://x.com/{handle[1:]}", 1.0))
                break
        else:
            if v.get("twitter"):
                findings.append(Finding("twitter.problem", "Not a Twitter / X handle.", 1.0))
        website = (v.get("website") or "").strip()
        telegram = normalize_telegram(v.get("telegram") or "") or (
            normalize_telegram(website) if _TELEGRAM_URL.match(website) else "")
        if telegram:
            findings.append(Finding("telegram", telegram, 1.0 if v.get("telegram") else 0.9))
            findings.append(Finding("telegram.url", f"https://t.me/{telegram[1:]}", 1.0))
        elif v.get("telegram"):
            findings.append(Finding("telegram.problem", "Not a Telegram username.", 1.0))
        if not findings:
            raise Skipped("No social profile.")
        return findings


def country_zones(country: str) -> list[str]:
    import pytz

    return list(pytz.country_timezones.get((country or "").upper(), []))


class TimeZoneProvider(Provider):
    """The time zone of the address's country when it has only one, else of the phone number
    when it maps to only one; otherwise nothing (a guess would mislead)."""

    name, label = "timezone", "Time zone"

    def enrich(self, contact):
        v = contact.values
        zones = country_zones(v.get("country"))
        if len(zones) == 1:
            return [Finding("timezone", zones[0], 0.85)]
        for field in ("mobile", "phone"):
            number = _parse_phone(v.get(field))
            if number is not None and phonenumbers.is_valid_number(number):
                found = phone_zones(number)
                if len(found) == 1:
                    return [Finding("timezone", found[0], 0.75)]
        if v.get("country") or v.get("phone") or v.get("mobile"):
            raise Skipped("The country and phone numbers span several time zones.")
        raise Skipped("No address country or phone number.")


# --- running providers ---------------------------------------------------------------------------

@dataclass
class Snapshot:
    """What providers get: the contact's inputs, read once (providers never touch the database
    rows themselves)."""

    pk: int
    organization_id: int
    values: dict
    previous: dict  # Contact.enrichment["values"] as it was
    force: bool = False  # asked for by a person: no provider keeps an earlier answer

    @classmethod
    def of(cls, contact, force: bool = False) -> Snapshot:
        values = {name: str(getattr(contact, name) or "") for name in (*ENRICHMENT_INPUTS, *FILLABLE)}
        return cls(contact.pk, contact.organization_id, values, dict((contact.enrichment or {}).get("values") or {}),
                   force)


def _field_error(field: str, value) -> str:
    from contacts.models import Contact

    if field == "company":
        from companies.models import domain_validator

        try:
            domain_validator(value)
        except ValidationError:
            return f"{value!r} is not a domain"
        return ""
    if field in FILLABLE:
        model_field = Contact._meta.get_field(field)
        if not isinstance(value, str) or not value:
            return f"{field} must be text"
        try:
            model_field.clean(value, None)
        except ValidationError as exc:
            return f"{value!r} is not a valid {field}: {' '.join(exc.messages)}"
        return ""
    if not FACT_KEY.match(field):
        return f"unknown field {field!r}"
    if len(repr(value)) > MAX_VALUE_CHARS:
        return f"{field} is too long"
    if not isinstance(value, (str, bool, int, float, list)) or (
            isinstance(value, list) and not all(isinstance(x, (str, int, float)) for x in value)):
        return f"{field} is not a plain value"
    return ""


def check_findings(findings) -> list[Finding]:
    """The findings if they are all well formed; raises ProviderError('returned garbage: …')."""
    if not isinstance(findings, (list, tuple)):
        raise ProviderError(f"Returned garbage: expected a list of findings, got {type(findings).__name__}.")
    for finding in findings:
        if not isinstance(finding, Finding):
            raise ProviderError(f"Returned garbage: {str(finding)[:80]!r} is not a finding.")
        if isinstance(finding.confidence, bool) or not isinstance(finding.confidence, (int, float)) or \
                not 0 <= finding.confidence <= 1:
            raise ProviderError(f"Returned garbage: confidence {finding.confidence!r} is not between 0 and 1.")
        problem = _field_error(finding.field, finding.value)
        if problem:
            raise ProviderError(f"Returned garbage: {problem}.")
    return list(findings)


def run_provider(provider: Provider, snapshot: Snapshot) -> tuple[dict, list[Finding]]:
    """(status, findings) of one provider; never raises."""
    import requests

    try:
        findings = check_findings(provider.enrich(snapshot))
    except Skipped as exc:
        return {"status": SKIPPED, "reason": exc.reason}, []
    except Unchanged as exc:
        return {"status": OK, "reason": exc.reason, "unchanged": True}, []
    except NotChecked as exc:
        return {"status": NOT_CHECKED, "reason": exc.reason}, []
    except ProviderError as exc:
        return {"status": FAILED, "reason": exc.reason}, []
    except (TimeoutError, requests.Timeout) as exc:
        return {"status": FAILED, "reason": f"Timed out ({exc or type(exc).__name__})."}, []
    except Exception as exc:  # noqa: BLE001 - a provider's bug is its failure, not the contact's
        # The type only: a message may quote the person's data, which logs must not keep.
        logger.warning("Enrichment provider %s failed: %s", provider.name, type(exc).__name__)
        return {"status": FAILED, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}, []
    return {"status": OK, "reason": ""}, findings


# --- applying findings ---------------------------------------------------------------------------

def _company_name(domain: str) -> str:
    """'acme-labs.co.uk' -> 'Acme Labs'."""
    labels = domain.split(".")
    label = labels[0]
    if len(labels) > 2 and labels[-2] in ("co", "com", "org", "net", "ac", "gov") and len(labels[-1]) == 2:
        label = labels[-3]
    elif len(labels) >= 2:
        label = labels[-2]
    return label.replace("-", " ").replace("_", " ").title()[:200] or domain


def _link_company(contact, domain: str) -> tuple[bool, dict]:
    """Link the contact to the organization's company with `domain` (created if none); only when
    the contact has no company link. (applied, value)."""
    from companies.models import Company
    from contacts.models import ContactCompany

    links = list(ContactCompany.objects.filter(contact_id=contact.pk, company__deleted_at__isnull=True)
                 .select_related("company"))
    company = Company.objects.filter(organization_id=contact.organization_id, domain=domain).first()
    if links:
        linked = next((link.company for link in links if link.company.domain == domain), None)
        if linked is not None:
            return True, {"id": linked.pk, "name": linked.name, "domain": domain, "created": False}
        value = {"domain": domain, "name": company.name if company else _company_name(domain)}
        return False, {**value, "reason": "The contact is already linked to a company."}
    created = False
    if company is None:
        try:
            with transaction.atomic():  # a savepoint: another worker may create it first
                company = Company(organization_id=contact.organization_id, name=_company_name(domain), domain=domain,
                              owner_id=contact.owner_id)
                company.save()
            created = True
        except IntegrityError:
            company = Company.objects.get(organization_id=contact.organization_id, domain=domain)
    ContactCompany(organization_id=contact.organization_id, contact_id=contact.pk, company=company,
                   is_primary=True).save()
    return True, {"id": company.pk, "name": company.name, "domain": domain, "created": created}


def _entry(value, source: str, confidence: float, applied: bool, now) -> dict:
    return {"value": value, "source": source, "at": now.isoformat(), "confidence": round(float(confidence), 2),
            "applied": applied}


def enrich_contact(contact_id: int, *, only=None, attempt: int = 1, actor_id: int | None = None,
                   force: bool = False) -> dict | None:
    """Run the providers (all, or the names in `only`) on a contact and store what they found;
    the history names `actor_id` (who pressed Enrich, who ran the import) with source "enrichment".
    Returns {"failed": [names], "enrichment": {...}}, or None when the contact is gone."""
    from contacts.models import Contact

    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        return None
    snapshot = Snapshot.of(contact, force=force)
    results = []
    for provider in providers():
        if only and provider.name not in only:
            continue
        status, findings = run_provider(provider, snapshot)
        results.append((provider, status, findings))
    now = timezone.now()
    from crm.audit import change_context

    with transaction.atomic(), change_context(actor=actor_id, source="enrichment"):
        contact = Contact.objects.select_for_update().filter(pk=contact_id).first()
        if contact is None:
            return None
        enrichment = dict(contact.enrichment or {})
        values = dict(enrichment.get("values") or {})
        states = dict(enrichment.get("providers") or {})
        updates = {}
        for provider, status, findings in results:
            previous = states.get(provider.name) or {}
            states[provider.name] = {**status, "label": provider.label, "at": now.isoformat(),
                                     "attempts": attempt if status["status"] == FAILED else 0}
            unchanged = states[provider.name].pop("unchanged", False)
            if status["status"] == FAILED or unchanged:
                # Nothing of a failed provider is used; what it found before stays as it was (as
                # it does for one whose inputs did not change).
                states[provider.name]["last_ok_at"] = previous.get("last_ok_at") or (
                    previous.get("at") if previous.get("status") == OK else None)
                continue
            if status["status"] == OK:
                states[provider.name]["last_ok_at"] = now.isoformat()
            # Facts this provider found before but not now no longer hold (a removed phone, another
            # email domain); values it filled in stay, as the contact's fields do.
            for key in [k for k, e in values.items() if e.get("source") == provider.name and k not in FILLABLE]:
                del values[key]
            for finding in findings:
                if finding.field == "company":
                    applied, value = _link_company(contact, finding.value)
                    values["company"] = _entry(value, provider.name, finding.confidence, applied, now)
                elif finding.field in FILLABLE:
                    current = getattr(contact, finding.field) or ""
                    earlier = values.get(finding.field) or {}
                    # Still the value an earlier enrichment wrote (not typed): enrichment may refresh it.
                    ours = bool(current) and bool(earlier.get("applied")) and earlier.get("value") == current
                    if current == finding.value and not ours:
                        continue  # a person typed exactly this: nothing to record
                    if current != finding.value and (not current or ours):
                        updates[finding.field] = finding.value
                    applied = current == finding.value or not current or ours
                    values[finding.field] = _entry(finding.value, provider.name, finding.confidence, applied, now)
                else:
                    values[finding.field] = _entry(finding.value, provider.name, finding.confidence, True, now)
        enrichment.update({"values": values, "providers": states, "enriched_at": now.isoformat()})
        # A queryset update: no save() hook, so this write does not ask for enrichment again. Like
        # the other derived writes (embedding, company name) it leaves `updated_at` alone: that
        # says when a person or an import last changed the contact (an import's revert relies on it);
        # the history records this change with source "enrichment".
        Contact.all_objects.filter(pk=contact_id).update(enrichment=enrichment, **updates)
    failed = [provider.name for provider, status, _ in results if status["status"] == FAILED]
    return {"failed": failed, "enrichment": enrichment}


# --- triggers ------------------------------------------------------------------------------------

def inputs_of(contact) -> tuple:
    return tuple(str(getattr(contact, name) or "") for name in ENRICHMENT_INPUTS)


def schedule(contact_id: int, *, debounce: bool = True, actor_id: int | None = None) -> None:
    """Ask the worker to enrich the contact once the current transaction commits; saves of the
    same contact within a few seconds share one task."""
    def send():
        # The window closes before the task runs (it reads the row then), so a save that was
        # folded into it is seen by it, and a later save schedules a task of its own.
        if not debounce or cache.add(f"enrichment:scheduled:{contact_id}", 1, timeout=DEBOUNCE_SECONDS):
            from crm.celery import app

            kwargs = {} if debounce else {"force": True, "actor_id": actor_id}
            app.send_task(CONTACT_TASK, args=[contact_id], kwargs=kwargs,
                          countdown=DEBOUNCE_SECONDS + 1 if debounce else 0)

    transaction.on_commit(send)


def contact_saved(contact, seen: tuple | None) -> None:
    """Contact.save(): a new contact, or one whose inputs changed since it was read, is enriched."""
    if not getattr(settings, "KITH_ENRICHMENT_ON_SAVE", True) or contact.deleted_at is not None:
        return
    if seen is None or inputs_of(contact) != seen:
        schedule(contact.pk)


def request_enrichment(contact, actor=None) -> None:
    """The Enrich button / POST /api/contacts/{id}/enrich/: all providers, now."""
    schedule(contact.pk, debounce=False, actor_id=getattr(actor, "pk", None))


def retry_delay(retries: int) -> int:
    """Seconds before retry number `retries` + 1: base × 2^retries, at most an hour."""
    return min(int(getattr(settings, "KITH_ENRICHMENT_RETRY_BACKOFF", 30)) * 2 ** retries, 3600)


# --- batch job (after an import) -----------------------------------------------------------------

def start_job(organization_id: int, contact_ids: list[int], *, actor=None, params=None, queue: bool = True):
    """One job enriching many contacts in batches, with progress (not one task per contact)."""
    from crm.jobs import enqueue
    from crm.models import Job

    ids = sorted(set(contact_ids))
    if not ids:
        return None
    with transaction.atomic():
        job = Job.objects.create(organization_id=organization_id, kind=JOB_KIND, task=JOB_TASK, actor=actor,
                                 params={**(params or {}), "ids": ids}, total=len(ids))
        if queue:
            enqueue(job)
    return job


def start_import_job(imp, actor=None):
    """After an import: enrich the contacts it created, updated or merged into."""
    from contacts.models import ImportRow

    if not getattr(settings, "KITH_ENRICHMENT_ON_IMPORT", True):
        return None
    outcomes = (ImportRow.Outcome.CREATED, ImportRow.Outcome.UPDATED, ImportRow.Outcome.MERGED)
    ids = list(ImportRow.objects.filter(contact_import=imp, outcome__in=outcomes, contact_id__isnull=False)
               .values_list("contact_id", flat=True))
    return start_job(imp.organization_id, ids, actor=actor, params={"import": imp.pk})


def run_job(job_id: int):
    from crm.jobs import run_job as run

    retries = []

    def step(job):
        position = job.checkpoint.get("position", 0)
        ids = job.params["ids"][position:position + JOB_BATCH]
        for contact_id in ids:
            result = enrich_contact(contact_id, actor_id=job.actor_id)
            if result is None:
                job.failed += 1
                continue
            job.succeeded += 1
            if result["failed"]:
                retries.append((contact_id, result["failed"], job.actor_id))
        job.processed = position + len(ids)
        job.checkpoint = {"position": position + len(ids)}
        return job.processed >= len(job.params["ids"])

    job = run(job_id, step)
    for contact_id, failed, actor_id in retries:
        retry_later(contact_id, failed, actor_id)
    return job


def retry_later(contact_id: int, failed: list[str], actor_id: int | None = None) -> None:
    """Retry a contact's failed providers alone, as the task's second attempt (bounded, backoff)."""
    def send():
        from crm.celery import app

        app.send_task(CONTACT_TASK, args=[contact_id], kwargs={"only": failed, "attempt": 2, "actor_id": actor_id},
                      countdown=retry_delay(0))

    transaction.on_commit(send)


# --- the contact page's card ---------------------------------------------------------------------

VALUE_LABELS = {
    "timezone": "Time zone", "linkedin": "LinkedIn", "twitter": "Twitter / X", "company": "Company",
    "email.valid": "Email syntax", "email.domain": "Email domain", "email.free": "Mailbox provider",
    "email.disposable": "Disposable address", "email.deliverable": "Accepts email", "email.mx": "Mail servers",
    "email.problem": "Email problem", "twitter.url": "Twitter / X profile", "linkedin.problem": "LinkedIn",
    "twitter.problem": "Twitter / X", "telegram": "Telegram", "telegram.url": "Telegram profile",
    "telegram.problem": "Telegram",
}
_PHONE_LABELS = {"valid": "valid", "e164": "E.164", "region": "country", "number_type": "type",
                 "carrier": "carrier (range)", "current_carrier": "carrier (now)", "looked_up": "looked up", "line_type": "line type", "time_zones": "time zones", "place": "place"}


def _label(key: str) -> str:
    if key in VALUE_LABELS:
        return VALUE_LABELS[key]
    head, _, tail = key.partition(".")
    if head in ("phone", "mobile"):
        return f"{head.title()} {_PHONE_LABELS.get(tail, tail.replace('_', ' '))}"
    return key.replace(".", " ").replace("_", " ").capitalize()


def _display(key: str, value) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return value.get("name") or value.get("domain") or ""
    return str(value)


MAIN_VALUES = (*FILLABLE, "company", "email.deliverable")


def card_rows(contact) -> dict:
    """The contact page's card: the values that fill fields (and the company, deliverability)
    first, the other facts after; each with its source's label, time and confidence."""
    from django.utils.dateparse import parse_datetime

    enrichment = contact.enrichment or {}
    providers = enrichment.get("providers") or {}
    main, more = [], []
    for key, entry in sorted((enrichment.get("values") or {}).items()):
        value = entry.get("value")
        company = value if key == "company" and isinstance(value, dict) else {}
        source = entry.get("source") or ""
        row = {"key": key, "label": _label(key), "value": _display(key, value),
               "source": (providers.get(source) or {}).get("label") or source,
               "at": parse_datetime(entry.get("at") or ""), "confidence": round((entry.get("confidence") or 0) * 100),
               "applied": entry.get("applied"), "company_id": company.get("id") if entry.get("applied") else None,
               "reason": company.get("reason", "")}
        (main if key in MAIN_VALUES else more).append(row)
    main.sort(key=lambda row: MAIN_VALUES.index(row["key"]))
    states = [{"name": name, "label": state.get("label") or name, "status": state.get("status"),
               "status_label": STATUS_LABELS.get(state.get("status"), state.get("status")),
               "reason": state.get("reason"), "at": parse_datetime(state.get("at") or "")}
              for name, state in providers.items()]
    return {"values": main, "more": more, "states": states,
            "enriched_at": parse_datetime(enrichment.get("enriched_at") or "")}


def import_progress(imp) -> dict | None:
    """The enrichment job an import queued: status, counts, percent and a line for its page."""
    from crm.models import Job

    job = (Job.objects.filter(organization_id=imp.organization_id, kind=JOB_KIND, params__import=imp.pk)
           .order_by("-created_at", "-id").first())
    if job is None:
        return None
    total = job.total or 0
    percent = 100 if job.status == Job.Status.DONE else (round(100 * job.processed / total) if total else 0)
    line = {Job.Status.QUEUED: f"Enrichment of {total} contacts is queued.",
            Job.Status.RUNNING: f"Enriching: {job.processed} of {total} contacts.",
            Job.Status.DONE: f"Enriched {job.succeeded} of {total} contacts.",
            }.get(job.status, f"Enrichment {job.get_status_display().lower()}: {job.processed} of {total} contacts."
                                 f"{' ' + job.error if job.error else ''}")
    return {"job": job.pk, "status": job.status, "total": total, "processed": job.processed,
            "succeeded": job.succeeded, "failed": job.failed, "percent": percent, "line": line}


# --- erasure -------------------------------------------------------------------------------------

def forget(sender, contact, **kwargs) -> None:
    """contacts.signals.contact_erasing: the person's enrichment lives in the contact's row (gone
    with it); outside it only the cache holds their email domain's DNS answer and the debounce
    mark of their id. Both go, so no trace of the address is left behind."""
    domain = email_domain(contact.email)
    cache.delete_many([f"enrichment:scheduled:{contact.pk}", *([f"enrichment:mx:{domain}"] if domain else [])])
