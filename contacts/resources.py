"""The Django admin's contact import (django-import-export) runs through contacts.imports:
the same mapping guesses, per-row validation, matching, dedupe, audit context and revert as
the web form and the API, not a second implementation. An admin import is an ordinary
import afterwards: listed among the organization's imports, with its error file and revert."""

from __future__ import annotations

import csv
import io

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from import_export.results import Error, Result, RowResult

from contacts import imports
from contacts.models import Contact, ImportRow
from crm.resources import OrgResource

Outcome = ImportRow.Outcome
# Our outcomes as django-import-export's row types.
_TYPES = {Outcome.CREATED: RowResult.IMPORT_TYPE_NEW, Outcome.UPDATED: RowResult.IMPORT_TYPE_UPDATE,
          Outcome.MERGED: RowResult.IMPORT_TYPE_UPDATE, Outcome.UNCHANGED: RowResult.IMPORT_TYPE_SKIP,
          Outcome.SKIPPED: RowResult.IMPORT_TYPE_SKIP, Outcome.INVALID: RowResult.IMPORT_TYPE_INVALID,
          Outcome.DUPLICATE: RowResult.IMPORT_TYPE_INVALID}


class ContactResource(OrgResource):
    class Meta:
        model = Contact
        exclude = ("embedding", "tags", "companies", "display_name", "search_name", "search_name_rev",
                   "company_name", "phone_digits", "search_vector",
                   # encrypted storage (crm.encryption): custom_fields, phone and mobile carry the values
                   "custom_fields_sealed", "phone_sealed", "mobile_sealed", "phone_hash", "mobile_hash")
        clean_model_instances = True

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs):
        result = Result()
        headers = [str(h) for h in (dataset.headers or [])]
        result.diff_headers = headers
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        writer.writerows(["" if v is None else str(v) for v in row] for row in dataset)
        name = (kwargs.get("file_name") or "admin-import").rsplit(".", 1)[0] + ".csv"
        user = kwargs.get("user")
        try:
            imp = imports.upload(user, SimpleUploadedFile(name, buffer.getvalue().encode("utf-8")))
            imp = imports.configure(imp, user, mapping=imp.mapping, inline=True)
            if imp.stage != imp.Stage.PREVIEWED:
                raise ValidationError(imp.error or "The file could not be checked.")
            if not dry_run:
                imp = imports.start_import(imp, user, inline=True)
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            for message in messages:
                result.append_base_error(Error(ValidationError(message)))
            return result
        counts = imp.preview["counts"] if dry_run else imp.counts
        for outcome, n in counts.items():
            result.totals[_TYPES[outcome]] += n
        result.total_rows = imp.preview["rows"]
        if dry_run:
            for shown in imp.preview["shown"]:
                kind = _TYPES[shown["outcome"]]
                if kind == RowResult.IMPORT_TYPE_INVALID:
                    continue
                row = RowResult()
                row.import_type, row.diff = kind, shown["cells"]
                result.append_row_result(row)
            for error in imp.preview["errors"]:
                result.append_invalid_row(error["line"], {}, ValidationError(error["message"]))
            # The dry run was only for this page: the confirmed import is a new one.
            imp.file.delete(save=False)
            imp.delete()
        return result
