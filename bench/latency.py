"""Latency benchmarks on a seeded database (run by `python -m bench`, DATABASE_URL set).

Each case runs --requests times in this process against PostgreSQL, timing the whole
call (query planning and Python included), and reports p50/p95 in ms. Cases run as an
org admin (the widest view) and as a sales rep (the visibility filter at work)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(fn, n):
    fn()  # warm-up: plans, caches
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 95)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", action="append", default=[],
                        help="run only the cases whose name contains this text (repeatable)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from bench.cases import cases, dashboard_cases, list_cases, segment_cases

    # The API throttle would (rightly) stop a benchmark; measure without it.
    from rest_framework.settings import api_settings

    api_settings.DEFAULT_THROTTLE_CLASSES = []
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")

    results = []
    print(f"\n== Latency ({args.requests} requests per case; ms) ==", flush=True)
    print(f"{'case':<58} {'p50':>8} {'p95':>8} {'target':>8}", flush=True)
    import itertools

    for name, fn, target in itertools.chain(cases(), list_cases(), segment_cases(), dashboard_cases()):
        if args.only and not any(text in name for text in args.only):
            continue
        p50, p95 = measure(fn, args.requests)
        flag = "" if target is None or p95 < target else "  OVER TARGET"
        print(f"{name:<58} {p50:8.2f} {p95:8.2f} {target if target else '':>8}{flag}", flush=True)
        results.append((name, p50, p95, target))
    over = [r for r in results if r[3] is not None and r[2] >= r[3]]
    print(f"\n{len(results) - len(over)}/{len(results)} cases under target", flush=True)


if __name__ == "__main__":
    main()
