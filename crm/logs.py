"""Request ids on every log line, and the log format.

`RequestIdMiddleware` (first in MIDDLEWARE) gives each request an id: the incoming
`X-Request-ID` when it is sane (1-128 of letters, digits and `._:-`), else a new uuid4. The id
goes back in the response's `X-Request-ID` header, `RequestIdFilter` (on the console handler)
puts it on every record logged during the request as `request_id`, and each request ends with
one access line on the `kith.request` logger (method, path without query string, status,
duration, user id).

Celery tasks published during a request carry the id in a message header (`kith_request_id`,
before_task_publish); the worker puts it back for the task's run (task_prerun/task_postrun), so
the worker's lines about that task have the same id, and tasks it publishes carry it on.

LOG_FORMAT=json writes one JSON object per line (python-json-logger): time, level, logger,
message, request_id, plus task_id/task_name inside tasks and any `extra` fields. LOG_FORMAT=text
(the default outside production) is one readable line. Production (KITH_PUBLIC_URL set, DEBUG
off) defaults to json.

This module is imported by settings: nothing here may need Django to be set up at import time."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

HEADER = "X-Request-ID"
TASK_HEADER = "kith_request_id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("kith_request_id", default=None)
_task: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("kith_task", default=None)

access_logger = logging.getLogger("kith.request")


def current_request_id() -> str | None:
    return _request_id.get()


def clean_request_id(value: str | None) -> str:
    """The incoming id when it is safe to log and echo, else a new one."""
    if value and _SANE.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` ("-" outside requests and tasks) and, inside a task, `task_id`/`task_name`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get() or "-"
        task = _task.get()
        if task and not hasattr(record, "task_id"):
            record.task_name, record.task_id = task
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        super().__init__(*args, **kwargs)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def logging_settings(fmt: str, level: str, masked_loggers: tuple[str, ...]) -> dict:
    """The LOGGING dict: one console handler in `fmt` ("json" or "text") with request ids;
    `masked_loggers` get crm.logmask.MaskPII."""
    if fmt not in {"json", "text"}:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT={fmt!r} is not a log format (use json or text)")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "crm.logs.JsonFormatter"}, "text": {"format": TEXT_FORMAT}},
        "filters": {"mask_pii": {"()": "crm.logmask.MaskPII"}, "request_id": {"()": "crm.logs.RequestIdFilter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"pgserver": {"level": "WARNING"},
                    **{name: {"filters": ["mask_pii"]} for name in masked_loggers}},
    }


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = clean_request_id(request.headers.get(HEADER))
        request.request_id = request_id
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            access_logger.info(
                "%s %s %s", request.method, request.path, response.status_code,
                extra={"method": request.method, "path": request.path, "status": response.status_code,
                       "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                       "user_id": _user_id(request)})
            return response
        finally:
            _request_id.reset(token)


def _user_id(request):
    """The signed-in user's id when authentication already ran (never loads a session for it)."""
    from django.utils.functional import SimpleLazyObject, empty

    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    return user.pk if getattr(user, "is_authenticated", False) else None


# Celery signal receivers (connected in crm.celery)

def on_before_task_publish(headers=None, **kwargs):
    request_id = _request_id.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def on_task_prerun(task_id=None, task=None, **kwargs):
    if task is None:
        return
    request_id = getattr(task.request, TASK_HEADER, None)
    task.request._kith_log_tokens = (_request_id.set(request_id or _request_id.get()),
                                     _task.set((getattr(task, "name", "?"), task_id)))


def on_task_postrun(task=None, **kwargs):
    tokens = getattr(task.request, "_kith_log_tokens", None) if task is not None else None
    if tokens:
        _request_id.reset(tokens[0])
        _task.reset(tokens[1])
        task.request._kith_log_tokens = None
