"""The permission sweep: every URL pattern of the project, requested by people who must not
get at its object.

For every route whose path names an object (pk, id, token …) the sweep requests it

- as an org admin (and back-office staff) of ANOTHER ORGANIZATION: every method answers 404
  (405 for a method the route does not have), never the object's data;
- as a rep of ANOTHER TEAM of the same organization: 404 where the model's own rules
  (`visible_to`) hide the object from her, 403/404 for writes she may not make;
- as a VIEWER of the object's team trying to write (POST/PUT/PATCH/DELETE): 403 or 404;

and checks that no answer contains the object's identifying values and that the database
did not change (row count and checksum of every table, before and after).

A route with path parameters that the sweep does not know (no rule below and not in EXEMPT)
fails the test, so a new route is covered as soon as it exists. Routes without path
parameters carry no object id; they are requested (with the first organization's marker as
search term) by the other organization's admin, whose answer must not contain any of the first
organization's identifying values, and by the other team's rep, whose answer must not contain
those of the objects hidden from her.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.contrib.admin.utils import quote as admin_quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import make_world
from tests.crm.test_admin import populate

# Routes with path parameters that name no object of ours, or that are public by design.
# README.md ("Test it" → "Permission sweep") holds this table: keep both in step.
EXEMPT = {
    "password_reset_confirm": "Django's password reset link: uidb64 + signed token, no session, no object data",
    "messaging:twilio_status": "Twilio status callback: public by design, rejected without a valid Twilio signature",
    "messaging:twilio_inbound": "Twilio inbound SMS: public by design, rejected without a valid Twilio signature",
    "api:None": "catch-all of /api/: answers a JSON 404 for any unknown path",
    "admin:app_list": "admin index of one app: the parameter is an app label, not an object",
    "admin:None (?P<url>.*)$": "admin catch-all: redirects or 404s unknown admin paths",
    "logout": "signs the requesting user out: no object, and it would end the sweep's own sessions",
    "admin:logout": "the admin's sign-out: as above",
}

# Path parameter → object (a key of the world's `objects`), per route. The `pk` of most routes
# is given by their name's prefix (PK_BY_PREFIX); the rest are listed here.
PK_BY_PREFIX = {
    "contacts:restore": "trashed_contact", "api:contact-restore": "trashed_contact",
    "companies:restore": "trashed_company", "api:company-restore": "trashed_company",
    # First match wins: longer prefixes first.
    "contacts:bulk_merge": "bulk_merge", "contacts:bulk": "bulk", "contacts:merge": "merge",
    "contacts:import": "import", "contacts:duplicate_scan": "scan", "contacts:duplicate": "duplicate",
    "contacts:export": "export", "contacts:segment": "segment", "contacts:saved_view": "saved_view",
    "contacts:": "contact",
    "companies:merge": "company_merge", "companies:": "company",
    "activities:contact_": "contact", "activities:company_": "company", "activities:notification": "notification",
    "activities:": "activity",
    "sms:template": "template", "sms:contact_": "contact", "sms:": "message",
    "settings_member": "member", "settings_team": "team", "settings_webhook": "webhook",
    "contact_settings:layout": "layout", "contact_settings:privacy": "privacy_request",
    "contact_settings:rule": "rule",
    "api:tag": "tag", "api:custom-field": "custom_field", "api:team": "team", "api:member": "member",
    "api:webhook": "webhook", "api:contact-company": "contact_company", "api:contact-import": "import",
    "api:contact-": "contact", "api:company-duplicate": "company_duplicate", "api:company-": "company",
    "api:relationship": "relationship", "api:segment": "segment", "api:saved-view": "saved_view",
    "api:bulk-operation": "bulk", "api:form-layout": "layout", "api:assignment-rule": "rule",
    "api:import-mapping": "import_mapping", "api:export": "export", "api:duplicate-scan": "scan",
    "api:duplicate": "duplicate", "api:privacy-request": "privacy_request", "api:activity": "activity",
    "api:notification": "notification", "api:message": "message", "api:sms-template": "template",
    "api:merge-bulk": "bulk_merge", "api:merge": "merge",
}
OTHER_PARAMS = {
    "tag_pk": "tag", "event_id": "history_event", "delivery_pk": "delivery", "token": "export_token",
    "field": "=first_name", "kind": "=call", "format": "=json",
}

# Routes whose object the organization's own admin does not reach either (the control in
# test_object_route_holds), and why.
NOT_REACHABLE = {
    "admin:view_on_site": "no model has get_absolute_url: Django's redirect answers 404 for every object",
}

# The same route for an object that does not exist.
MISSING_ID = 2147480000
MISSING = {"token": "not-a-token"}
# Routes where a member who may not change the object may still write: her writes are left to
# the other checks (no data of others in the answer, the database check).
MEMBER_WRITES = {
    "activities:company_quick_add": "every member logs calls, notes and tasks on a shared company",
}

WRITE_METHODS = ("post", "put", "patch", "delete")
PAYLOAD = {"first_name": "Hijacked", "name": "Hijacked", "body": "Hijacked", "value": "Hijacked",
           "url": "http://127.0.0.1:9/hijacked", "confirm": "1", "reason": "x"}
# Tables whose rows a request may write whatever it does (sessions, the rate-limit cache …).
VOLATILE_TABLES = {"django_session", "kith_cache", "django_celery_results_taskresult",
                   "django_celery_results_groupresult", "django_celery_results_chordcounter"}
VOLATILE_PREFIXES = ("axes_",)

MARKER = "Zqxwv"  # every identifying value of the first organization contains it


@dataclass
class Route:
    id: str  # readable, unique: the route's name (and its pattern when names repeat)
    name: str
    pattern: str  # the full path pattern, e.g. "contacts/<int:pk>/"
    params: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin:")

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")


PARAM_RE = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def walk(resolver=None, prefix="", namespace=None):
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(filter(None, (namespace, p.namespace))) or None
            yield from walk(p, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            pattern = prefix + str(p.pattern)
            name = f"{namespace}:{p.name}" if namespace else str(p.name)
            params = tuple(a or b for a, b in PARAM_RE.findall(pattern))
            yield name, pattern, params


def all_routes() -> list[Route]:
    found = list(walk())
    counts = {}
    for name, _, _ in found:
        counts[name] = counts.get(name, 0) + 1
    routes = []
    for name, pattern, params in found:
        rid = name
        if counts[name] > 1:
            if "format" in params:
                rid = f"{name}.<format>"
            elif name.endswith(":None"):
                rid = f"{name} {pattern.split('/', 1)[1] if name.startswith('admin:') else pattern[len('api/'):]}"
        routes.append(Route(rid, name, pattern, params))
    ids = [r.id for r in routes]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"route ids are not unique: {sorted(dupes)}"
    return routes


ROUTES = all_routes()
NO_OBJECT_PARAMS = {"format"}
OBJECT_ROUTES = [r for r in ROUTES if set(r.params) - NO_OBJECT_PARAMS and r.id not in EXEMPT]
PLAIN_ROUTES = [r for r in ROUTES if not set(r.params) - NO_OBJECT_PARAMS and r.id not in EXEMPT]

ADMIN_MODEL_RE = re.compile(r"^admin/(\w+)/(\w+)/<path:object_id>/")


def admin_model(route: Route) -> str | None:
    """'contacts.contact' for admin/contacts/contact/<path:object_id>/… and the user password page."""
    if route.name == "admin:auth_user_password_change":
        return "crm.user"
    m = ADMIN_MODEL_RE.match(route.pattern)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def object_key(route: Route, param: str) -> str | None:
    company = route.name.startswith(("companies:", "api:company-"))
    if company and param in ("event_id", "field"):
        return {"event_id": "company_history_event", "field": "=name"}[param]
    if param == "pk":
        for prefix, key in PK_BY_PREFIX.items():
            if route.name.startswith(prefix):
                return key
        return None
    return OTHER_PARAMS.get(param)


def plan(route: Route) -> dict[str, str] | str:
    """{param: object key} for the route, or why the sweep cannot exercise it."""
    if route.name == "admin:view_on_site":
        return {"content_type_id": "contact_type", "object_id": "contact"}
    if route.is_admin:
        model = admin_model(route)
        if model is None:
            return "no rule for this admin route"
        return {p: f"admin:{model}" for p in route.params}
    keys = {p: object_key(route, p) for p in route.params}
    missing = [p for p, k in keys.items() if k is None]
    if missing:
        return f"no rule for path parameter(s) {missing}"
    return keys


def build_path(route: Route, values: dict[str, str]) -> str:
    pattern = route.pattern

    def sub(m):
        return str(values[m.group(1) or m.group(2)])

    path = PARAM_RE.sub(sub, pattern)
    # Regex patterns (router routes, format suffixes): drop the anchors and escapes.
    path = path.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")
    if route.params and "format" in route.params:
        path = path.rstrip("/")
    return "/" + path


# -- the world ------------------------------------------------------------------------------------


@dataclass
class Sweep:
    world: object
    objects: dict  # key → (model instance or literal value)
    models: dict  # key → model class whose visible_to decides
    secrets: dict  # key → identifying strings of the object
    clients: dict  # who → logged-in Client


def build_world():
    from activities.models import Activity, Notification
    from companies.models import Company
    from contacts import bulk, exports, imports
    from contacts import merge as merging
    from django.contrib.contenttypes.models import ContentType

    from contacts.models import (
        AssignmentRule, CompanyDuplicate, Contact, ContactCompany, ContactDuplicate, ContactRelationship,
        FormLayout, ImportMapping, SavedView, Segment,
    )
    from crm.audit import history_for
    from crm.models import CustomFieldDefinition, Job, Membership, Tag, WebhookDelivery, WebhookEndpoint
    from messaging.models import Message, SmsTemplate

    w = make_world()
    org, alice = w.org, w.alice
    # One of every model in both organizations (the admin test's data), then the objects the
    # routes name: alice's (rep of team A; the viewer is in team A), with identifying values.
    populate(org, alice, MARKER)
    populate(w.other_org, w.other_rep, "Globex")

    contact = Contact.objects.create(organization=org, first_name=f"{MARKER}ina", last_name="Secretsworth",
                                     email=f"{MARKER.lower()}.ina@example.com", owner=alice, team=w.team_a,
                                     phone="+14155550101")
    peer = Contact.objects.create(organization=org, first_name=f"{MARKER}ello", last_name="Peerson",
                                  email=f"{MARKER.lower()}.ello@example.com", owner=alice, team=w.team_a)
    contact.job_title = f"{MARKER} Chief"
    contact.save()
    from contacts.services import set_tags

    set_tags(contact, [Tag.objects.filter(organization=org).first()])
    company = Company.objects.create(organization=org, name=f"{MARKER} Holdings", domain="zqxwv-holdings.test",
                                     owner=alice)
    twin_co = Company.objects.create(organization=org, name=f"{MARKER} Holdingz", owner=alice)
    link = ContactCompany.objects.create(organization=org, contact=contact, company=company, is_primary=True)
    relationship = ContactRelationship.objects.create(organization=org, from_contact=contact, to_contact=peer,
                                                      type="colleague")
    activity = Activity.objects.create(organization=org, contact=contact, type="task", actor=alice,
                                       assigned_to=alice, subject=f"{MARKER} call back")
    notification = Notification.objects.create(organization=org, recipient=alice, kind="other",
                                               title=f"{MARKER} ping")
    message = Message.objects.create(organization=org, contact=contact, to_number="+14155550101",
                                     body=f"{MARKER} text", actor=alice)
    duplicate = ContactDuplicate.objects.create(organization=org, first=contact, second=peer, score=0.9,
                                                reasons=["same phone"])
    company_duplicate = CompanyDuplicate.objects.create(organization=org, first=company, second=twin_co,
                                                        score=0.9, reasons=["same name"])
    segment = Segment.objects.create(organization=org, name=f"{MARKER} segment mine", created_by=alice,
                                     criteria={"op": "and", "rules": [{"field": "score", "operator": "gte",
                                                                       "value": 1}]})
    saved_view = SavedView.objects.create(organization=org, name=f"{MARKER} view mine", user=alice)
    bulk_job = bulk.start(alice, action="set_stage", params={"lifecycle_stage": "sql"}, ids=[contact.pk])
    upload = SimpleUploadedFile(f"{MARKER}-book.csv",
                                f"First Name,Email\n{MARKER} row,{MARKER.lower()}-row@example.com\n".encode())
    contact_import = imports.upload(alice, upload)
    contact_import = imports.configure(contact_import, alice, mapping=contact_import.mapping,
                                       save_as=f"{MARKER} mapping mine")
    export = exports.start_export(alice, format="csv", columns=["first_name", "email"], ids=[contact.pk])
    export.refresh_from_db()
    assert export.status == Job.Status.DONE, export.error
    twins = [Contact.objects.create(organization=org, first_name=f"{MARKER} twin {i}", owner=alice, team=w.team_a)
             for i in range(2)]
    merge = merging.merge(alice, "contact", twins[0].pk, [twins[1].pk])
    co_twins = [Company.objects.create(organization=org, name=f"{MARKER} co twin {i}", owner=alice)
                for i in range(2)]
    company_merge = merging.merge(alice, "company", co_twins[0].pk, [co_twins[1].pk])
    bulk_merge = merging.start_bulk_merge(alice, [[twins[0].pk, peer.pk]], inline=False)
    scan = Job.objects.create(organization=org, kind="contacts.dedupe_scan", task="contacts.tasks.run_dedupe_scan",
                              actor=alice, status=Job.Status.DONE)
    endpoint = WebhookEndpoint.objects.filter(organization=org).first()
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint).first()
    company.industry = f"{MARKER} industry"
    company.save()
    event = next(e for e in history_for(contact) if e.pgh_label == "update")
    company_event = next(e for e in history_for(company) if e.pgh_label == "update")
    from django.utils import timezone

    trashed_contact = Contact.objects.create(organization=org, first_name=f"{MARKER} binned", owner=alice,
                                             team=w.team_a)
    trashed_company = Company.objects.create(organization=org, name=f"{MARKER} binned co", owner=alice)
    Contact.all_objects.filter(pk=trashed_contact.pk).update(deleted_at=timezone.now())
    Company.all_objects.filter(pk=trashed_company.pk).update(deleted_at=timezone.now())
    # A subject access export with its file (run here: the test's transaction never commits).
    from contacts import privacy

    privacy_request = privacy.request_export(w.admin, contact.pk)
    privacy.run_export(privacy_request.job_id)
    privacy_request.refresh_from_db()
    template = SmsTemplate.objects.filter(organization=org).first()

    objects = {
        "contact": contact, "company": company, "contact_company": link, "relationship": relationship,
        "activity": activity, "notification": notification, "message": message, "template": template,
        "duplicate": duplicate, "company_duplicate": company_duplicate, "segment": segment,
        "saved_view": saved_view, "bulk": bulk_job, "import": contact_import,
        "import_mapping": ImportMapping.objects.filter(organization=org, created_by=alice).first(),
        "export": export, "export_token": export.params["token"], "merge": merge, "company_merge": company_merge,
        "bulk_merge": bulk_merge, "scan": scan, "privacy_request": privacy_request, "webhook": endpoint,
        "delivery": delivery, "history_event": event.pgh_id,
        "company_history_event": company_event.pgh_id, "trashed_contact": trashed_contact,
        "trashed_company": trashed_company, "team": w.team_a,
        "member": Membership.objects.get(user=alice),
        "tag": Tag.objects.filter(organization=org).first(),
        "custom_field": CustomFieldDefinition.objects.filter(organization=org).first(),
        "layout": FormLayout.objects.filter(organization=org).first(),
        "contact_type": ContentType.objects.get_for_model(Contact),
        "rule": AssignmentRule.objects.filter(organization=org).first(),
    }
    assert all(v is not None for v in objects.values()), [k for k, v in objects.items() if v is None]
    models = {k: type(v) for k, v in objects.items() if hasattr(v, "_meta")}
    models["member"] = Membership
    secrets = {
        "contact": [contact.first_name, contact.email, contact.last_name],
        "company": [company.name], "activity": [activity.subject], "notification": [notification.title],
        "message": [message.body], "import": [contact_import.file_name], "segment": [segment.name],
        "saved_view": [saved_view.name], "webhook": [endpoint.url],
    }
    # The admin pages' objects: one row of every registered model of the first organization.
    from django.contrib import admin as django_admin

    for model, model_admin in django_admin.site._registry.items():
        key = f"admin:{model._meta.label_lower}"
        instance = objects.get(next((k for k, m in models.items() if m is model), ""), None)
        if instance is None:
            qs = model._default_manager.all()
            if any(f.name == "organization" for f in model._meta.fields):
                qs = qs.filter(organization=org)
            elif model._meta.label_lower == "crm.user":
                qs = qs.filter(pk=alice.pk)
            elif model._meta.label_lower == "pghistory.events":
                qs = model.objects.tracks(contact)
            elif model._meta.label_lower == "crm.organization":
                qs = qs.filter(pk=org.pk)
            elif model._meta.label_lower == "auth.group":
                qs = qs.filter(user=alice) or qs
            elif model._meta.label_lower == "authtoken.tokenproxy":
                from rest_framework.authtoken.models import Token

                Token.objects.get_or_create(user=alice)
                qs = qs.filter(user=alice)
            instance = qs.first()
            if instance is None and model._meta.label_lower.startswith("django_celery_results"):
                instance = _celery_result(model)
            if instance is None and model._meta.app_label == "axes":
                instance = _sign_in_record(model, alice)
        objects[key] = instance
        models[key] = model
    return Sweep(w, objects, models, secrets, {})


def _celery_result(model):
    if model._meta.model_name == "taskresult":
        return model.objects.create(task_id=f"{MARKER.lower()}-task", task_name="contacts.tasks.run_export")
    return model.objects.create(group_id=f"{MARKER.lower()}-group")


def _sign_in_record(model, user):
    """One row of each django-axes table (sign-in attempts, log, failures)."""
    fields = {f.name for f in model._meta.get_fields()}
    values = {"username": user.email, "ip_address": "203.0.113.7", "user_agent": "sweep", "http_accept": "*/*",
              "path_info": "/login/", "get_data": "", "post_data": "", "failures_since_start": 1,
              "locked_out": False}
    return model.objects.create(**{k: v for k, v in values.items() if k in fields})


def value_of(obj, route):
    value = obj.pk if hasattr(obj, "pk") else obj
    return admin_quote(value) if route.is_admin else value


@pytest.fixture(scope="module")
def sweep(django_db_setup, django_db_blocker, _media_root):
    """One world for the whole module, built in a transaction that is rolled back at the end
    (each test runs inside it, in a savepoint of its own)."""
    overrides = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
                                  MEDIA_ROOT=str(_media_root))
    with django_db_blocker.unblock(), overrides:
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            data = build_world()
            w = data.world
            for who, user in (("other_org", w.charlie), ("other_team", w.rita), ("viewer", w.viewer_a),
                              ("owner_admin", w.admin), ("owner", w.alice)):
                client = Client(HTTP_ACCEPT="text/html,application/json")
                client.force_login(user)
                data.clients[who] = client
            yield data
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


# -- the database snapshot ------------------------------------------------------------------------


def snapshot() -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the rows' text (the sum of a 64-bit hash per row: no sort, so
    it costs one scan), per table of the public schema."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [t for (t,) in cursor.fetchall()
                  if t not in VOLATILE_TABLES and not t.startswith(VOLATILE_PREFIXES)]
        sql = " UNION ALL ".join(
            f"SELECT '{t}', count(*), coalesce(sum(hashtextextended(x::text, 0)::numeric), 0) FROM \"{t}\" x"
            for t in tables)
        cursor.execute(sql)
        return {t: (n, digest) for t, n, digest in cursor.fetchall()}


def changed_tables(before, after) -> dict:
    return {t: (before.get(t), after.get(t)) for t in set(before) | set(after) if before.get(t) != after.get(t)}


# -- the requests ---------------------------------------------------------------------------------


def request(client: Client, method: str, path: str, api: bool):
    if method == "get":
        return client.get(path)
    if api:
        return getattr(client, method)(path, data=PAYLOAD, content_type="application/json")
    if method == "post":
        return client.post(path, data=PAYLOAD)
    return getattr(client, method)(path, data="", content_type="application/x-www-form-urlencoded")


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def visible(sweep: Sweep, key: str, user, action: str) -> bool:
    model = sweep.models.get(key)
    obj = sweep.objects[key]
    if model is None or not hasattr(model.objects, "visible_to") or not hasattr(obj, "pk"):
        return False
    manager = getattr(model, "all_objects", model.objects)
    return manager.visible_to(user, action).filter(pk=obj.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=lambda r: r.id)
def test_object_route_holds(sweep, route):
    keys = plan(route)
    assert isinstance(keys, dict), (
        f"the permission sweep cannot exercise route {route.id!r} ({route.pattern}): {keys}. "
        f"Add a rule for its parameters (PK_BY_PREFIX/OTHER_PARAMS) or exempt it with a reason (EXEMPT).")
    values, missing = {}, {}
    for param, key in keys.items():
        if key.startswith("="):
            values[param] = missing[param] = key[1:]
        else:
            assert sweep.objects.get(key) is not None, f"no object {key!r} in the sweep's world for {route.id}"
            values[param] = value_of(sweep.objects[key], route)
            missing[param] = MISSING.get(param, MISSING_ID)
    path, missing_path = build_path(route, values), build_path(route, missing)
    main_key = next(keys[p] for p in ("pk", "object_id", "id", *keys) if p in keys)
    all_secrets = [s for values_ in sweep.secrets.values() for s in values_] + [MARKER]
    methods = ("get", "post") if route.is_admin else ("get", *WRITE_METHODS)
    problems = []
    before = snapshot()

    def check(who, method, allowed, secrets, probe=True):
        """Request the route; a status outside `allowed` passes only if it is a 302 or 403 that
        the same user gets for an object that does not exist (no existence leak)."""
        client = sweep.clients[who]
        response = request(client, method, path, route.is_api)
        status = response.status_code
        if status not in allowed:
            same = False
            if probe and status in (302, 403):
                other = request(client, method, missing_path, route.is_api)
                same = other.status_code == status and (
                    status != 302 or other["Location"] == response["Location"].replace(path, missing_path))
            if not same:
                problems.append(f"{who} {method.upper()} {path}: {status} (expected one of {sorted(allowed)})")
        body = body_of(response) if status != 302 else ""
        leaked = [s for s in secrets if s and s.lower() in body.lower()]
        if leaked:
            problems.append(f"{who} {method.upper()} {path}: answer contains {leaked}")
        return status

    # Another organization: nothing at all (404; 405 for a method the route does not have).
    statuses = [check("other_org", m, {404, 405}, all_secrets) for m in methods]
    if set(statuses) == {405}:
        problems.append(f"other_org got only 405 on {path}: the route was not exercised")

    # Another team of the same organization: what `visible_to` hides from her is not found.
    rita = sweep.world.rita
    if visible(sweep, main_key, rita, "view"):
        check("other_team", "get", {200, 302, 403, 404, 405}, [], probe=False)
        if not visible(sweep, main_key, rita, "change") and route.name not in MEMBER_WRITES:
            for m in methods[1:]:
                check("other_team", m, {403, 404, 405}, [])
    else:
        for m in methods:
            check("other_team", m, {404, 405}, sweep.secrets.get(main_key, []))

    # A viewer of the object's team: reads maybe, never writes.
    for m in methods[1:]:
        check("viewer", m, {403, 404, 405}, [], probe=route.is_admin)

    diff = changed_tables(before, snapshot())
    if diff:
        problems.append(f"the database changed: {sorted(diff)}")

    # The control: the organization's admin reaches the object through the same path (so the
    # 404s above come from the gate, not from a wrong path). Writes end with the test's rollback.
    if route.id not in NOT_REACHABLE:
        for who in ("owner_admin", "owner"):  # alice: her notifications are hers only
            response = request(sweep.clients[who], "get", path, route.is_api)
            if response.status_code == 405:
                response = request(sweep.clients[who], "post", path, route.is_api)
            if response.status_code != 404:
                break
        if response.status_code == 404:
            problems.append(f"control: the organization's admin gets 404 on {path}: the path misses its object")
    assert not problems, f"{route.id} ({route.pattern}):\n  " + "\n  ".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("route", PLAIN_ROUTES, ids=lambda r: r.id)
def test_plain_route_shows_nothing_hidden(sweep, route):
    """Lists, search, dashboards and settings pages, searched for the first organization's marker:
    the other organization sees none of it, the other team's rep none of what `visible_to` hides
    from her."""
    path = build_path(route, {"format": "json"}) + f"?q={MARKER}&search={MARKER}"
    rita = sweep.world.rita
    hidden = [s for key, values in sweep.secrets.items() if not visible(sweep, key, rita, "view") for s in values]
    before = snapshot()
    problems = []
    # The marker itself may be echoed back (the search box); the identifying values may not.
    every = [s for values in sweep.secrets.values() for s in values]
    for who, secrets in (("other_org", every), ("other_team", hidden)):
        response = sweep.clients[who].get(path)
        body = body_of(response) if response.status_code != 302 else ""
        leaked = [s for s in secrets if s.lower() in body.lower()]
        if response.status_code >= 500 or leaked:
            problems.append(f"{who} GET {path}: {response.status_code}, shows {leaked}")
    diff = changed_tables(before, snapshot())
    if diff:
        problems.append(f"the database changed: {sorted(diff)}")
    assert not problems, f"{route.id} ({route.pattern}):\n  " + "\n  ".join(problems)


def test_every_route_is_swept_or_exempt():
    """Each route is swept (with a rule for every path parameter) or exempt with a reason; the
    exempt list names real routes only (a renamed route must not stay exempt silently)."""
    ids = {r.id for r in ROUTES}
    assert sorted(set(EXEMPT) - ids) == []
    unknown = [f"{r.id} ({r.pattern}): {plan(r)}" for r in OBJECT_ROUTES if not isinstance(plan(r), dict)]
    assert unknown == []
    assert len(ROUTES) == len(OBJECT_ROUTES) + len(PLAIN_ROUTES) + len(EXEMPT)
