"""The load scenario (python -m bench.load): sales reps search, open contacts and log activities;
managers import a small file and export their team's contacts. Every simulated user signs in with
an account and API token of its own (bench/load/__main__.py writes them to KITH_LOAD_USERS).

Status codes are counted per request name; a 5xx or any 4xx the scenario does not expect is a failure.
"""

from __future__ import annotations

import collections
import io
import itertools
import json
import os
import random
import time

from locust import HttpUser, between, events, task

USERS = json.loads(open(os.environ["KITH_LOAD_USERS"]).read())
REPS = itertools.cycle([u for u in USERS if u["role"] == "rep"])
MANAGERS = itertools.cycle([u for u in USERS if u["role"] == "manager"])
STATUS = collections.Counter()  # (name, status) -> count
UNEXPECTED = collections.Counter()
# A small file a manager imports (new people each time: the e-mail carries a counter).
IMPORT_ROWS = int(os.environ.get("KITH_LOAD_IMPORT_ROWS", "200"))
_import_serial = itertools.count()


@events.request.add_listener
def _count(request_type, name, response_length, response, exception, **kwargs):
    status = getattr(response, "status_code", 0) if response is not None else 0
    STATUS[(name, status)] += 1


@events.quitting.add_listener
def _write(environment, **kwargs):
    path = os.environ.get("KITH_LOAD_STATUS")
    if path:
        with open(path, "w") as out:
            json.dump({"status": [[n, s, c] for (n, s), c in sorted(STATUS.items())],
                       "unexpected": [[n, s, c] for (n, s), c in sorted(UNEXPECTED.items())]}, out)


class Member(HttpUser):
    abstract = True
    account = None

    def on_start(self):
        self.account = next(self.pool)
        self.client.headers["Authorization"] = f"Token {self.account['token']}"
        self.contacts = self.account["contacts"]
        self.words = self.account["words"]

    def call(self, method, url, name, expect=(200,), **kwargs):
        with self.client.request(method, url, name=name, catch_response=True, **kwargs) as response:
            if response.status_code not in expect:
                UNEXPECTED[(name, response.status_code)] += 1
                response.failure(f"{response.status_code}: {response.text[:200]}")
            else:
                response.success()
            return response


class Rep(Member):
    """A sales rep: search as you type, full-text search, the filtered list, a contact and its
    timeline, a logged call or note."""
    weight = 9
    # A rep reads what came back before the next step: 2 to 8 s between actions.
    wait_time = between(2, 8)
    pool = REPS

    @task(5)
    def autocomplete(self):
        word = random.choice(self.words)
        for length in (2, 4, len(word)):  # as the rep types
            self.call("GET", f"/api/search/?q={word[:length]}", "search: as you type")

    @task(1)
    def full_text(self):
        self.call("GET", f"/api/search/full-text/?q={random.choice(self.words)}", "search: full text")

    @task(3)
    def contact_list(self):
        params = random.choice(["", "lifecycle_stage=lead", "ordering=-last_activity", "ordering=-score",
                                "has_email=true"])
        self.call("GET", f"/api/contacts/?page_size=50&{params}", "contacts: list (50, a filter or sort)")

    @task(4)
    def open_contact(self):
        pk = random.choice(self.contacts)
        self.call("GET", f"/api/contacts/{pk}/?expand=owner,tags", "contact: open")
        self.call("GET", f"/api/contacts/{pk}/timeline/", "contact: timeline")

    @task(2)
    def log_activity(self):
        pk = random.choice(self.contacts)
        kind = random.choice(["call", "note"])
        self.call("POST", "/api/activities/", "activity: log", expect=(201,),
                  json={"contact": pk, "type": kind, "subject": f"Load {kind}", "body": "Talked about pricing."})


class Manager(Member):
    """A sales manager: imports a small file (upload, dry run, run, wait) and exports the team's
    contacts as CSV (start, wait, download)."""
    weight = 1
    wait_time = between(20, 40)
    pool = MANAGERS

    def _wait(self, url, name, done, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.call("GET", url, name, expect=(200, 202))
            if response.status_code >= 300:
                return None
            data = response.json()
            if done(data):
                return data
            time.sleep(2)
        UNEXPECTED[(name + " (timed out)", 0)] += 1
        return None

    @task
    def import_file(self):
        serial = next(_import_serial)
        lines = ["First Name,Last Name,Email,Job Title"]
        lines += [f"Load{serial},Person{i},load.{self.account['id']}.{serial}.{i}@example.org,Buyer"
                  for i in range(IMPORT_ROWS)]
        body = io.BytesIO(("\n".join(lines) + "\n").encode())
        response = self.call("POST", "/api/imports/", "import: upload", expect=(201,),
                             files={"file": (f"load-{serial}.csv", body, "text/csv")})
        if response.status_code != 201:
            return
        data = response.json()
        url = f"/api/imports/{data['id']}/"
        response = self.call("POST", url + "configure/", "import: dry run", expect=(200, 202),
                             json={"mapping": data["mapping"]})
        if response.status_code >= 300 or not self._wait(url, "import: poll",
                                                         lambda d: d["stage"] != "previewing"):
            return
        self.call("POST", url + "run/", "import: run", expect=(200, 202))
        self._wait(url, "import: poll", lambda d: d["stage"] not in ("importing", "previewed"))

    @task
    def export(self):
        response = self.call("POST", "/api/exports/", "export: start", expect=(201, 202),
                             json={"format": "csv", "columns": ["first_name", "last_name", "email", "phone"],
                                   "filters": {"lifecycle_stage": "customer"}})
        if response.status_code >= 300:
            return
        data = response.json()
        if not data.get("download_url"):
            data = self._wait(data["url"], "export: poll", lambda d: bool(d.get("download_url")))
            if not data:
                return
        self.call("GET", data["download_url"], "export: download")
