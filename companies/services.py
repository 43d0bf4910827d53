"""Company operations shared by pages, API, admin and imports."""

from __future__ import annotations

from django.db import transaction

from companies.models import Company
from crm.services import apply_changes, editable_fields, save_validated

EDITABLE_FIELDS = editable_fields(Company)


@transaction.atomic
def create_company(*, organization, data: dict, actor=None) -> Company:
    """Validate and create a company; raises ValidationError naming the field at fault."""
    company = Company(organization=organization, created_by=actor)
    apply_changes(company, data, EDITABLE_FIELDS)
    return save_validated(company)


@transaction.atomic
def update_company(*, company: Company, data: dict, actor=None) -> list[str]:
    """Validate and save the changed fields; returns their names."""
    changed = apply_changes(company, data, EDITABLE_FIELDS)
    if changed:
        save_validated(company)
    return changed


@transaction.atomic
def delete_company(company: Company) -> None:
    """Move a company to the trash. Its contact links, activities and children stay (and
    come back with it); the contacts' shown company names skip it meanwhile."""
    from contacts.models import refresh_company_names

    company.soft_delete()
    refresh_company_names(company_id=company.pk)


@transaction.atomic
def restore_company(company: Company) -> None:
    """Bring a company back from the trash (fails naming `domain` when a live company took it)."""
    from contacts.models import refresh_company_names

    company.restore()
    refresh_company_names(company_id=company.pk)
