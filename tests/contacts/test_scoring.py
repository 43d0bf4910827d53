"""Lead scoring (contacts.scoring): each component of the breakdown, recency decay, negative
signals, clamping, history, the queue filled by triggers and the organization-wide job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activities.services import delete_activity, log_activity
from companies.models import Company
from contacts import scoring
from contacts.models import Contact, ContactCompany, ScoreHistory, ScorePending, ScoringModel
from contacts.services import create_contact, record_consent, update_contact
from crm.models import Job
from messaging.models import Message

pytestmark = pytest.mark.django_db

# Only the component under test counts: every weight 0 unless a test sets it.
ZERO = {name: 0 for name in ScoringModel.WEIGHT_FIELDS if name != "half_life_days"}


def model_for(world, **weights):
    model, _ = ScoringModel.objects.update_or_create(organization=world.org, defaults={**ZERO, **weights})
    return model


def contact(world, **data):
    return create_contact(organization=world.org, data={"first_name": "Lee", **data})


def activity(world, person, kind, *, days_ago=0.0, **extra):
    return log_activity(organization_id=world.org.pk, data={
        "contact": person, "type": kind, "occurred_at": timezone.now() - timedelta(days=days_ago), **extra})


def components(person):
    _, _, breakdown = scoring.compute(person.organization_id, [person.pk])[person.pk]
    return {c["component"]: c for c in breakdown["components"]}


def score_of(person):
    return scoring.compute(person.organization_id, [person.pk])[person.pk][0]


@pytest.mark.parametrize("title, level", [
    ("Chief Executive Officer", "executive"), ("CEO", "executive"), ("Co-founder", "executive"),
    ("Managing Director", "executive"), ("President", "executive"), ("Vice President of Sales", "vp"),
    ("SVP Marketing", "vp"), ("Head of Growth", "vp"), ("Director of IT", "director"),
    ("Sales Manager", "manager"), ("Team Lead", "manager"), ("Senior Engineer", "senior"),
    ("Sr. Analyst", "senior"), ("Assistant to the CEO", "entry"), ("Marketing Intern", "entry"),
    ("Engineer", None), ("", None), ("Leadership coach", None),
])
def test_title_seniority_rules(title, level):
    found = scoring.seniority(title)
    assert (found[0] if found else None) == level


def test_demographic_fit_components(world):
    model_for(world, title_vp=20, size_large=15, industry_match=10, target_industries=["Software"])
    person = contact(world, job_title="VP Sales", industry="Retail")
    company = Company.objects.create(organization=world.org, name="Initech", size_band="1001-5000",
                                     industry="software")
    ContactCompany.objects.create(organization=world.org, contact=person, company=company, is_primary=True)
    found = components(person)
    assert found["title"]["points"] == 20 and "vice president" in found["title"]["why"]
    assert found["company_size"]["points"] == 15 and "Initech" in found["company_size"]["why"]
    # The primary company's industry counts, case-insensitively (not the contact's own).
    assert found["industry"]["points"] == 10 and "software" in found["industry"]["why"]
    assert score_of(person) == 45


def test_contact_industry_counts_without_a_company(world):
    model_for(world, industry_match=10, target_industries=["Healthcare"])
    assert components(contact(world, industry="healthcare"))["industry"]["points"] == 10
    assert "industry" not in components(contact(world, first_name="B", industry="Retail"))


def test_behaviour_weights_each_type_and_decays(world):
    model_for(world, meeting_held=10, sms_received=8, email_opened=2, half_life_days=30)
    person = contact(world)
    activity(world, person, "meeting_held")
    activity(world, person, "sms_received", days_ago=30, direction="inbound")
    activity(world, person, "email_opened", days_ago=60)
    activity(world, person, "note")  # not a scored type
    activity(world, person, "call")  # weight 0
    activity(world, person, "meeting_held", days_ago=1, status="cancelled")  # cancelled: no points
    found = components(person)
    assert found["meeting_held"]["points"] == pytest.approx(10, abs=0.05)
    # An activity one half-life old counts half; two half-lives a quarter.
    assert found["sms_received"]["points"] == pytest.approx(4, abs=0.05)
    assert found["email_opened"]["points"] == pytest.approx(0.5, abs=0.05)
    assert set(found) == {"meeting_held", "sms_received", "email_opened"}
    assert score_of(person) == round(10 + 4 + 0.5)


def test_half_life_is_configurable(world):
    model_for(world, call=10, half_life_days=10)
    person = contact(world)
    activity(world, person, "call", days_ago=10)
    assert components(person)["call"]["points"] == pytest.approx(5, abs=0.05)
    model_for(world, call=10, half_life_days=5)
    assert components(person)["call"]["points"] == pytest.approx(2.5, abs=0.05)


def test_negative_signals_opt_outs_and_bounces(world):
    model_for(world, title_executive=50, opt_out_penalty=10, bounce_penalty=5)
    person = contact(world, job_title="CEO", mobile="+14155550123")
    record_consent(contact=person, channel="email", status="revoked", source="manual")
    record_consent(contact=person, channel="sms", status="granted", source="manual")
    record_consent(contact=person, channel="sms", status="revoked", source="sms_keyword")
    record_consent(contact=person, channel="call", status="granted", source="manual")
    Message.objects.create(organization=world.org, contact=person, to_number="+14155550123", body="Hi",
                           status="undelivered")
    Message.objects.create(organization=world.org, contact=person, to_number="+14155550123", body="Hi",
                           status="delivered")
    activity(world, person, "email_sent", status="failed", direction="outbound")
    found = components(person)
    assert found["opt_out"]["points"] == -20 and "email, SMS" in found["opt_out"]["why"]
    assert found["bounces"]["points"] == -10
    assert score_of(person) == 50 - 20 - 10


def test_score_is_clamped_to_0_100(world):
    model_for(world, meeting_held=60, opt_out_penalty=100)
    high = contact(world)
    for _ in range(3):
        activity(world, high, "meeting_held")
    low = contact(world, first_name="Low")
    record_consent(contact=low, channel="email", status="revoked", source="manual")
    results = scoring.compute(world.org.pk, [high.pk, low.pk])
    assert results[high.pk][0] == 100 and results[high.pk][2]["raw"] == pytest.approx(180, abs=0.1)
    assert results[high.pk][2]["clamped"] is True
    assert results[low.pk][0] == 0 and results[low.pk][2]["raw"] == -100


def test_defaults_apply_without_a_model_row(world):
    person = contact(world, job_title="Director of Sales")
    assert not ScoringModel.objects.filter(organization=world.org).exists()
    assert components(person)["title"]["points"] == ScoringModel().title_director == 15


def test_history_is_kept_when_the_score_changes(world):
    model_for(world, call=10, title_manager=10)
    person = contact(world, job_title="Manager")
    assert scoring.recompute(world.org.pk, [person.pk], reason="change") == 1
    assert scoring.recompute(world.org.pk, [person.pk], reason="change") == 0  # unchanged: no new row
    activity(world, person, "call")
    assert scoring.recompute(world.org.pk, [person.pk], reason="change") == 1
    person.refresh_from_db()
    assert person.score == 20
    history = list(ScoreHistory.objects.filter(contact=person).order_by("computed_at", "id"))
    assert [(h.previous, h.score, h.reason) for h in history] == [(0, 10, "change"), (10, 20, "change")]
    assert [c["component"] for c in history[-1].breakdown["components"]] == ["title", "call"]
    # The score is not part of the contact's audit trail (it has its own history).
    from django.apps import apps

    assert "score" not in {f.name for f in apps.get_model("contacts", "ContactEvent")._meta.fields}


def pending_ids():
    return set(ScorePending.objects.values_list("contact_id", flat=True))


def test_triggers_queue_contacts_whose_inputs_change(world):
    person = contact(world)
    other = contact(world, first_name="Other")
    assert {person.pk, other.pk} <= pending_ids()  # new contacts
    ScorePending.objects.all().delete()
    update_contact(contact=person, data={"description": "not a score input"})
    assert pending_ids() == set()
    update_contact(contact=person, data={"job_title": "CTO"})
    assert pending_ids() == {person.pk}
    ScorePending.objects.all().delete()
    call = activity(world, other, "call")
    assert pending_ids() == {other.pk}
    ScorePending.objects.all().delete()
    delete_activity(call)
    assert pending_ids() == {other.pk}
    ScorePending.objects.all().delete()
    record_consent(contact=person, channel="email", status="revoked", source="manual")
    assert pending_ids() == {person.pk}
    ScorePending.objects.all().delete()
    company = Company.objects.create(organization=world.org, name="Hooli")
    ContactCompany.objects.create(organization=world.org, contact=other, company=company)
    assert pending_ids() == {other.pk}
    ScorePending.objects.all().delete()
    Company.objects.filter(pk=company.pk).update(size_band="5001+")
    assert pending_ids() == {other.pk}


def test_score_pending_works_through_the_queue(world):
    model_for(world, title_executive=30)
    people = [contact(world, first_name=f"P{i}", job_title="CEO") for i in range(5)]
    assert scoring.score_pending() >= 5
    assert not ScorePending.objects.exists()
    assert set(Contact.objects.filter(pk__in=[p.pk for p in people]).values_list("score", flat=True)) == {30}


def test_recompute_job_walks_the_organization_with_progress(world, monkeypatch):
    monkeypatch.setattr(scoring, "BATCH", 3)
    model_for(world, title_executive=30)
    people = [contact(world, first_name=f"P{i}", job_title="CEO") for i in range(7)]
    foreign = create_contact(organization=world.other_org, data={"first_name": "F", "job_title": "CEO"})
    job = scoring.start_recompute(world.org.pk, reason="nightly", queue=False)
    assert job.total == 7 and job.kind == scoring.JOB_KIND
    job = scoring.run(job.pk)
    assert job.status == Job.Status.DONE and job.processed == 7 and job.succeeded == 7 and job.progress == 100
    assert set(Contact.objects.filter(pk__in=[p.pk for p in people]).values_list("score", flat=True)) == {30}
    foreign.refresh_from_db()
    assert foreign.score == 0  # another organization is another job
    assert not ScorePending.objects.filter(contact_id__in=[p.pk for p in people]).exists()


def test_decay_changes_scores_on_the_nightly_run(world):
    model_for(world, meeting_held=40, half_life_days=1)
    person = contact(world)
    activity(world, person, "meeting_held", days_ago=0)
    scoring.recompute(world.org.pk, [person.pk], reason="change")
    person.refresh_from_db()
    assert person.score == 40
    later = timezone.now() + timedelta(days=2)
    scoring.recompute(world.org.pk, [person.pk], reason="nightly", now=later)
    person.refresh_from_db()
    assert person.score == 10  # two half-lives later
    assert ScoreHistory.objects.filter(contact=person, reason="nightly", score=10, previous=40).exists()


def test_nightly_starts_one_job_per_organization(world):
    contact(world)
    create_contact(organization=world.other_org, data={"first_name": "F"})
    ids = scoring.nightly()
    assert set(Job.objects.filter(pk__in=ids).values_list("organization_id", flat=True)) == {
        world.org.pk, world.other_org.pk}
    # A second call while they run starts nothing new.
    assert scoring.nightly() == ids


def test_new_weights_cancel_a_running_job(world):
    contact(world)
    first = scoring.start_recompute(world.org.pk, reason="nightly", queue=False)
    second = scoring.save_model(ScoringModel(organization=world.org, call=3))
    first.refresh_from_db()
    assert first.status == Job.Status.CANCELLED and second.params == {"reason": "weights"}


def test_trashed_contacts_are_not_scored(world):
    person = contact(world)
    Contact.all_objects.filter(pk=person.pk).update(deleted_at=timezone.now())
    assert scoring.compute(world.org.pk, [person.pk]) == {}


def test_nightly_job_drops_old_history_but_keeps_each_latest_row(world, settings):
    settings.KITH_SCORE_HISTORY_DAYS = 30
    busy, quiet = contact(world), contact(world, first_name="Quiet")
    old = timezone.now() - timedelta(days=60)
    for person, scores in ((busy, (10, 20, 30)), (quiet, (5,))):
        for i, score in enumerate(scores):
            ScoreHistory.objects.create(organization=world.org, contact=person, score=score, reason="change",
                                        computed_at=old + timedelta(days=i * 20))  # 60, 40 and 20 days ago
    scoring.run(scoring.start_recompute(world.org.pk, reason="nightly", queue=False).pk)
    # (Both still score 0 as stored: the run itself adds no rows.)
    assert list(ScoreHistory.objects.filter(contact=busy).values_list("score", flat=True)) == [30]
    assert list(ScoreHistory.objects.filter(contact=quiet).values_list("score", flat=True)) == [5]


def test_erasure_removes_the_score_history_and_queue_row(world):
    from contacts.signals import contact_erasing

    model_for(world, title_executive=30)
    person = contact(world, job_title="CEO")
    scoring.recompute(world.org.pk, [person.pk], reason="change")
    ScorePending.objects.get_or_create(contact_id=person.pk, organization_id=world.org.pk)
    assert "CEO" in str(ScoreHistory.objects.get(contact=person).breakdown)
    contact_erasing.send(sender=Contact, contact=person, organization=world.org)
    assert not ScoreHistory.objects.filter(contact_id=person.pk).exists()
    assert not ScorePending.objects.filter(contact_id=person.pk).exists()


def test_beat_runs_the_queue_every_minute_and_the_recompute_nightly(world):
    from django.conf import settings

    from contacts import tasks
    from crm.celery import app

    beat = settings.CELERY_BEAT_SCHEDULE
    assert beat["score-pending"] == {"task": scoring.PENDING_TASK, "schedule": 60.0}
    assert beat["nightly-rescore"]["task"] == "contacts.tasks.nightly_rescore"
    assert {scoring.PENDING_TASK, scoring.JOB_TASK, "contacts.tasks.nightly_rescore"} <= set(app.tasks)
    model_for(world, title_director=15)
    person = contact(world, job_title="Director")
    assert tasks.score_pending() >= 1  # what beat runs, here in-process
    assert Contact.objects.get(pk=person.pk).score == 15
    job_ids = tasks.nightly_rescore.apply().get()
    assert Job.objects.filter(pk__in=job_ids, organization=world.org, kind=scoring.JOB_KIND).exists()


def test_first_weights_saved_twice_update_one_row(world):
    from contacts.models import ScoringModel
    from contacts.scoring import save_model

    first, second = ScoringModel.for_organization(world.org.pk), ScoringModel.for_organization(world.org.pk)
    first.half_life_days, second.half_life_days = 10, 20
    for model in (first, second):
        save_model(model, actor=world.admin)
    assert list(ScoringModel.objects.filter(organization=world.org).values_list("half_life_days", flat=True)) == [20]
