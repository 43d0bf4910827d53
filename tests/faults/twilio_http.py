"""Twilio faked at the HTTP layer for worker processes: `LocalTwilioHttp` (set as
KITH_TWILIO_HTTP_CLIENT in a worker's environment) sends the SDK's requests to the fake server at
KITH_FAKE_TWILIO_URL instead of https://api.twilio.com; `FakeTwilio` is that server, a thread in
the test process that records every request, so a test counts what reached "Twilio"."""

from __future__ import annotations

import email.utils
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from twilio.http.http_client import TwilioHttpClient

TWILIO_API = "https://api.twilio.com"


class LocalTwilioHttp(TwilioHttpClient):
    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_API):
            url = os.environ["KITH_FAKE_TWILIO_URL"].rstrip("/") + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


class FakeTwilio:
    """Creates messages (POST …/Messages.json, answering after `delay` seconds) and lists them
    (GET …/Messages.json?To=…, newest first), as Twilio's REST API does."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.lock = threading.Lock()
        self.created: list[dict] = []   # every message Twilio accepted, in order
        self.in_flight = 0              # create requests received and not yet answered
        self.lists = 0                  # list requests
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                account = urlsplit(self.path).path.split("/")[3]
                record = {"sid": "SM" + uuid.uuid4().hex, "account_sid": account, "to": form["To"][0],
                          "body": form["Body"][0], "from": (form.get("From") or ["+15005550006"])[0],
                          "messaging_service_sid": (form.get("MessagingServiceSid") or [None])[0],
                          "status": "queued", "num_segments": "1", "error_code": None, "error_message": None,
                          "date_created": email.utils.formatdate(usegmt=True), "date_sent": None}
                with fake.lock:  # accepted: from here on the text goes out, whatever happens to the caller
                    fake.created.append(record)
                    fake.in_flight += 1
                try:
                    time.sleep(fake.delay)
                    self._answer(201, record)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake.lock:
                    fake.lists += 1
                    found = [m for m in reversed(fake.created)
                             if m["to"] == query.get("To", m["to"]) and m["from"] == query.get("From", m["from"])]
                size = int(query.get("PageSize", 50))
                self._answer(200, {"messages": found[:size], "page": 0, "page_size": size, "uri": url.path,
                                   "first_page_uri": url.path, "next_page_uri": None, "previous_page_uri": None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def sent_to(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for m in self.created:
                counts[m["to"]] = counts.get(m["to"], 0) + 1
            return counts
