"""Company operations shared by pages, API, admin and imports."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from companies.models import Company

EDITABLE_FIELDS = {
    f.name for f in Company._meta.concrete_fields if f.editable and f.name not in {"id", "organization"}
}


def _apply(company: Company, data: dict) -> list[str]:
    unknown = sorted(set(data) - EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in unknown})
    changed = []
    for name, value in data.items():
        field = Company._meta.get_field(name)
        attname = field.attname
        new = value.pk if field.is_relation and value is not None and hasattr(value, "pk") else value
        if getattr(company, attname) != new:
            setattr(company, attname, new)
            changed.append(name)
    return changed


def _save_validated(company: Company) -> Company:
    company.full_clean()
    try:
        with transaction.atomic():
            company.save()
    except IntegrityError as exc:
        # A concurrent insert won the race on the unique domain.
        if "company_domain_unique_per_org" in str(exc):
            raise ValidationError({"domain": "A company with this domain already exists in your organization."}) \
                from None
        raise
    return company


@transaction.atomic
def create_company(*, organization, data: dict, actor=None) -> Company:
    """Validate and create a company; raises ValidationError naming the field at fault."""
    company = Company(organization=organization, created_by=actor)
    _apply(company, data)
    return _save_validated(company)


@transaction.atomic
def update_company(*, company: Company, data: dict, actor=None) -> list[str]:
    """Validate and save the changed fields; returns their names."""
    changed = _apply(company, data)
    if changed:
        _save_validated(company)
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
