"""The labelled set (bench/dedupe_data.py) at 2,000 contacts with 200 planted duplicates, loaded
as imports load rows (COPY, no keys yet) and scanned by the real job: precision >= 0.95 and
recall >= 0.90 at the default threshold (the benchmark runs the same at 100k and 1M)."""

from __future__ import annotations

import pytest

from bench.dedupe import evaluate, load
from bench.dedupe_data import generate
from contacts import duplicates
from crm.models import Job


@pytest.mark.django_db
def test_precision_and_recall_on_the_labelled_set(world):
    rows, truth = generate(2000, 200)
    assert len(truth) == 200
    ids = load(world.org.pk, rows)
    job = duplicates.start_scan(world.admin, inline=True)
    assert job.status == Job.Status.DONE, job.error
    result = evaluate(world.org.pk, ids, truth)
    assert result["precision"] >= 0.95, result
    assert result["recall"] >= 0.90, result
