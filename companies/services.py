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
    """Delete a company. Its contact links go with it, so the contacts' cached company
    names are recomputed; child companies lose their parent."""
    from contacts.models import ContactCompany, refresh_company_names

    contact_ids = list(ContactCompany.objects.filter(company=company).values_list("contact_id", flat=True))
    company.delete()
    if contact_ids:
        refresh_company_names(contact_ids=contact_ids)
