from __future__ import annotations

from urllib.parse import quote


def database_url(settings_dict: dict, name: str | None = None) -> str:
    """A DATABASE_URL for Django's connection settings (optionally another database on
    the same server), for child processes: Celery workers in tests, benchmarks."""
    s = settings_dict
    auth = quote(s.get("USER") or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    # dj-database-url puts a unix-socket directory given as ?host= into OPTIONS.
    host = quote(s.get("HOST") or s.get("OPTIONS", {}).get("host", ""), safe="")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgresql://{auth}@{host}{port}/{name or s['NAME']}"
