"""Search by meaning: embedding throughput, HNSW build time, nearest-neighbour latency and
recall@10 against exact search on the same filter, and hybrid search latency.

    python -m bench.semantic --contacts 100000 [--queries 200] [--keep]

In a database of its own (`<name>_bench_semantic`, dropped afterwards unless --keep):
`seed_demo` loads --contacts realistic contacts into one organization (4 teams of a manager
and 4 reps); the embedding pipeline of contacts/semantic.py (texts from the rows, MiniLM,
conditional UPDATE) embeds all of them with the HNSW index dropped, then the index is built
and timed. Queries are role/industry phrases run as the org admin (the whole organization)
and as a rep (own contacts: the filter keeps about 1 in 20 rows). Each query is embedded
first (its time reported apart), then searched through `semantic.nearest` (HNSW, iterative
scan, exact fallback) and through the exact ranking of the same filtered queryset — the
baseline, in the same process — which also gives recall@10. Hybrid search
(`contacts.search.ranked_search`, words + names + meaning) is timed end to end, query
embedding included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.owndb import in_own_database

QUERIES = [
    "payments startup CTO", "head of sales for a software company", "nurse working in a hospital",
    "marketing director in retail", "lawyer specialised in contracts", "procurement manager at a manufacturer",
    "data engineer", "chief financial officer", "recruiter hiring engineers", "logistics and shipping operations",
    "real estate broker", "someone who buys office furniture", "customer success lead", "university professor",
    "construction project manager", "energy company executive", "insurance underwriter", "bank compliance officer",
    "founder of a consulting firm", "product designer", "IT security specialist", "pharmaceutical sales rep",
    "hotel general manager", "government official", "nonprofit fundraiser", "agriculture supplier",
    "media and advertising", "telecom network engineer", "accountant", "HR business partner",
    "vice president of engineering", "operations manager in food production", "automotive parts buyer",
    "fintech", "healthcare decision maker", "retail store owner", "education technology", "supply chain analyst",
    "legal counsel", "software developer in Berlin",
]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - started) * 1000


def embed_all(organization_id: int, batch: int = 1024) -> tuple[int, float]:
    from contacts import semantic

    done, started, after = 0, time.perf_counter(), (0, 0)
    while True:
        keys = semantic.pending(semantic.CONTACT, organization_id=organization_id, after=after, limit=batch)
        if not keys:
            break
        done += semantic.embed_rows(semantic.CONTACT, [pk for _, pk in keys])
        after = keys[-1]
        if done % (batch * 20) < batch:
            rate = done / (time.perf_counter() - started)
            print(f"  embedded {done:,} ({rate:,.0f}/s)", flush=True)
    return done, time.perf_counter() - started


def run(contacts: int, queries: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from contacts import semantic
    from contacts.models import Contact
    from contacts.search import ranked_search
    from crm import embeddings
    from crm.models import Membership, Organization
    from crm.permissions import Role

    started = time.perf_counter()
    call_command("seed_demo", contacts=contacts, orgs=1, stdout=open(os.devnull, "w"))
    print(f"seeded {contacts:,} contacts in {time.perf_counter() - started:.0f} s", flush=True)
    org = Organization.objects.order_by("pk").last()
    admin = Membership.objects.filter(organization=org, role=Role.ADMIN).select_related("user").first().user
    rep = Membership.objects.filter(organization=org, role=Role.REP).select_related("user").first().user
    rep_rows = Contact.objects.filter(organization=org, owner=rep).count()

    # 1. The model alone, on real profile texts.
    sample = [pk for _, pk in semantic.pending(semantic.CONTACT, organization_id=org.pk, limit=4096)]
    texts = [text for _, _, text in semantic.texts_for(semantic.CONTACT, sample)]
    embeddings.embed(texts[:64])  # load the model
    _, ms = timed(embeddings.embed, texts)
    tokens = statistics.mean(len(e.ids) for e in embeddings.backend().tokenizer.encode_batch(texts))
    print(f"model: {len(texts) / (ms / 1000):,.0f} texts/s ({len(texts):,} profile texts, {tokens:.0f} word pieces "
          f"on average; target >= 300/s)", flush=True)

    # 2. The whole pipeline, the index dropped; then the HNSW build.
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS contact_embedding_hnsw")
    done, seconds = embed_all(org.pk)
    print(f"pipeline: embedded {done:,} contacts in {seconds:.0f} s ({done / seconds:,.0f}/s; "
          f"1M would take {1_000_000 / (done / seconds) / 60:.0f} min)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '2GB'")
        started = time.perf_counter()
        cursor.execute("CREATE INDEX contact_embedding_hnsw ON contacts_contact USING hnsw (embedding "
                       "vector_cosine_ops) WITH (m = 16, ef_construction = 64)")
        build = time.perf_counter() - started
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("SELECT pg_relation_size('contact_embedding_hnsw')")
        size = cursor.fetchone()[0]
    print(f"HNSW build (m=16, ef_construction=64): {build:.0f} s for {done:,} vectors, {size / 2**20:,.0f} MiB",
          flush=True)

    # 3. Nearest neighbours: HNSW vs exact on the same filter, as admin and as rep.
    phrases = [QUERIES[i % len(QUERIES)] for i in range(queries)]
    vectors, embed_ms = [], []
    for phrase in phrases:
        vector, ms = timed(semantic.embed_query, phrase)
        vectors.append(vector)
        embed_ms.append(ms)
    print(f"query embedding: p50 {pct(embed_ms, .5):.1f} ms, p95 {pct(embed_ms, .95):.1f} ms", flush=True)
    for label, user, rows in (("org admin", admin, done), (f"rep ({rep_rows:,} own contacts)", rep, rep_rows)):
        user = type(user).objects.get(pk=user.pk)
        visible = Contact.objects.visible_to(user)
        fast, exact, recalls, short = [], [], [], 0
        for vector in vectors:
            found, ms = timed(semantic.nearest, visible, vector, 10)
            fast.append(ms)
            truth, ms = timed(semantic.nearest, visible, vector, 10, exact=True)
            exact.append(ms)
            expected = {pk for pk, _ in truth}
            recalls.append(len(expected & {pk for pk, _ in found}) / max(len(expected), 1))
            short += len(found) < 10
        print(f"semantic, {label}: p50 {pct(fast, .5):.1f} ms, p95 {pct(fast, .95):.1f} ms (target < 50); "
              f"exact baseline p50 {pct(exact, .5):.1f} ms, p95 {pct(exact, .95):.1f} ms "
              f"({pct(exact, .95) / pct(fast, .95):.1f}x the HNSW p95); recall@10 {statistics.mean(recalls):.3f} "
              f"(min {min(recalls):.1f}; target >= 0.95); queries with < 10 rows: {short}", flush=True)
        hybrid = []
        for phrase in phrases:
            _, ms = timed(ranked_search, user, phrase, mode="hybrid", limit=20)
            hybrid.append(ms)
        print(f"hybrid, {label}: p50 {pct(hybrid, .5):.1f} ms, p95 {pct(hybrid, .95):.1f} ms (target < 100; "
              f"query embedding included)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.semantic")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)

    def bench():
        print(f"\n== Search by meaning at {args.contacts:,} contacts ==")
        run(args.contacts, args.queries)

    in_own_database("semantic", "bench.semantic", ["--contacts", str(args.contacts), "--queries", str(args.queries)],
                    bench, keep=args.keep)


if __name__ == "__main__":
    main()
