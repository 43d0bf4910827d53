from __future__ import annotations

import zoneinfo

import pghistory
import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Collate

from pgvector.django import HnswIndex, VectorField
from phonenumber_field.modelfields import PhoneNumberField

from crm.custom_fields import clean_custom_fields
from crm.encryption import CustomFieldsJSONField, SealedCustomFieldsMixin, SealedJSONField
from crm.search import fold
from crm.models import OrgModel
from crm.models import EmbeddedMixin, SoftDeleteMixin
from crm.querysets import LiveManager, SoftDeleteQuerySet
from crm.permissions import CHANGE, DELETE, VIEW, Role

def validate_timezone(value: str) -> None:
    """An IANA time zone name such as Europe/Berlin (checked against the tz database,
    not stored as choices, so migrations do not depend on the machine's tz data)."""
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a time zone; use a name such as America/New_York.",
                              code="invalid_timezone") from None

domain_validator = RegexValidator(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    "Enter a domain such as example.com (no scheme, path or spaces).",
)


def normalize_domain(value: str) -> str:
    value = (value or "").strip().lower()
    for prefix in ("https://", "http://"):
        if value.startswith(prefix):
            value = value[len(prefix):]
    value = value.split("/")[0]
    if value.startswith("www."):
        value = value[4:]
    return value


class Address(models.Model):
    street = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=120, blank=True)
    region = models.CharField("state / region", max_length=120, blank=True)
    postal_code = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=2, blank=True, validators=[
        RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO country code, e.g. US or DE.")])

    class Meta:
        abstract = True


# What a company's embedding is made of (contacts.semantic.company_text).
COMPANY_EMBEDDING_FIELDS = ("name", "domain", "industry", "size_band", "city", "country", "description",
                            "custom_fields")


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=["embedding", "search_name"], exclude_auto=True)),
    pghistory.DeleteEvent(),
    exclude=["embedding", "search_name"],
)
@pgtrigger.register(
    # As for contacts: a change to the text the embedding is made of clears it for re-embedding.
    pgtrigger.Trigger(
        name="company_embedding_stale", when=pgtrigger.Before, operation=pgtrigger.Update,
        condition=pgtrigger.AnyChange(*COMPANY_EMBEDDING_FIELDS),
        func="NEW.embedding := NULL; RETURN NEW;",
    ),
    # Lead scoring: a company's size band and industry are score inputs of its contacts.
    pgtrigger.Trigger(
        name="company_score_inputs_changed", when=pgtrigger.After, operation=pgtrigger.Update,
        condition=pgtrigger.AnyChange("industry", "size_band", "deleted_at"),
        func="INSERT INTO contacts_scorepending (contact_id, organization_id, queued_at) "
             "SELECT contact_id, organization_id, now() FROM contacts_contactcompany WHERE company_id = NEW.id "
             "ON CONFLICT (contact_id) DO NOTHING; RETURN NULL;",
    ),
)
class Company(SealedCustomFieldsMixin, EmbeddedMixin, SoftDeleteMixin, OrgModel, Address):
    EMBEDDING_FIELDS = COMPANY_EMBEDDING_FIELDS
    CUSTOM_FIELDS_MODEL = "company"

    class Size(models.TextChoices):
        S1 = "1-10", "1–10"
        S2 = "11-50", "11–50"
        S3 = "51-200", "51–200"
        S4 = "201-500", "201–500"
        S5 = "501-1000", "501–1,000"
        S6 = "1001-5000", "1,001–5,000"
        S7 = "5001+", "5,001+"

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, validators=[domain_validator])
    website = models.URLField(blank=True)
    phone = PhoneNumberField(blank=True)
    industry = models.CharField(max_length=120, blank=True)
    size_band = models.CharField(max_length=16, choices=Size.choices, blank=True)
    annual_revenue = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True,
                                         validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, blank=True, validators=[
        RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO currency code, e.g. USD.")])
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    founded_year = models.PositiveSmallIntegerField(null=True, blank=True,
                                                    validators=[MinValueValidator(1600), MaxValueValidator(2100)])
    logo = models.FileField(upload_to="logos/%Y/%m/", blank=True)
    description = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="owned_companies")
    custom_fields = CustomFieldsJSONField(default=dict, blank=True)
    # Values of sensitive custom fields, encrypted (crm.encryption); merged into custom_fields on read.
    custom_fields_sealed = SealedJSONField()
    enrichment = models.JSONField(default=dict, blank=True, editable=False,
                                  help_text="Enriched values with their provenance (source, fetched at).")
    embedding = VectorField(dimensions=384, null=True, blank=True, editable=False)
    # Folded name for case- and accent-insensitive prefix search (crm.search.fold), set on save.
    search_name = models.CharField(max_length=200, editable=False, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set (with deleted_at) when this company was merged into another one (contacts/merge.py).
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="merged_records", editable=False)

    objects = LiveManager()
    all_objects = SoftDeleteQuerySet.as_manager()
    constraint_error_fields = {"duplicate_domain": "domain"}

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        base_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "domain"], condition=~Q(domain="") & Q(deleted_at__isnull=True),
                name="company_domain_unique_per_org",
                violation_error_code="duplicate_domain", violation_error_message="A company with this domain already exists in your organization.",
            ),
            models.CheckConstraint(condition=~Q(parent=models.F("pk")), name="company_not_own_parent"),
        ]
        indexes = [
            models.Index(fields=["organization", "name"]),
            models.Index(F("organization"), Collate("search_name", "C"), F("id"), name="company_search_name_idx"),
            models.Index(fields=["organization", "created_at", "id"]),
            models.Index(fields=["organization", "industry"]),
            models.Index(fields=["organization", "deleted_at"], name="company_org_deleted_idx",
                         condition=Q(deleted_at__isnull=False)),
            HnswIndex(fields=["embedding"], name="company_embedding_hnsw", m=16, ef_construction=64,
                      opclasses=["vector_cosine_ops"]),
            models.Index(fields=["organization", "id"], name="company_embedding_pending_idx",
                         condition=Q(embedding__isnull=True, deleted_at__isnull=True)),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visibility_q(cls, scope, action):
        # Shared reference data: every member sees them; admins, managers and the owner change them.
        if action == VIEW or scope.is_admin or scope.role == Role.MANAGER:
            return Q()
        if action in (CHANGE, DELETE) and scope.can_write:
            return Q(owner_id=scope.user_id)
        return None

    def save(self, *args, **kwargs):
        self.search_name = fold(self.name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = set(update_fields) | {"search_name"}
        name_saved = update_fields is None or "name" in update_fields
        renamed = (name_saved and self.pk is not None
                   and not Company.objects.filter(pk=self.pk, name=self.name).exists())
        super().save(*args, **kwargs)
        if renamed:
            from contacts.models import refresh_company_names

            refresh_company_names(company_id=self.pk)

    def clean_fields(self, exclude=None):
        self.domain = normalize_domain(self.domain)
        self.name = (self.name or "").strip()
        super().clean_fields(exclude)

    def clean(self):
        super().clean()
        if self.organization_id:
            self._check_same_organization(parent=self.parent)
            self.custom_fields = clean_custom_fields(self.organization_id, "company", self.custom_fields)
        self._check_hierarchy()

    def _check_hierarchy(self):
        """The parent chain must not come back to this company (no cycles)."""
        if self.parent_id is None:
            return
        if self.pk and self.parent_id == self.pk:
            raise ValidationError({"parent": "A company cannot be its own parent."})
        seen, current = {self.pk}, self.parent_id
        for _ in range(1000):
            if current is None:
                return
            if current in seen:
                raise ValidationError({"parent": "This parent would create a cycle in the company hierarchy."})
            seen.add(current)
            current = Company.all_objects.filter(pk=current).values_list("parent_id", flat=True).first()
        raise ValidationError({"parent": "The company hierarchy is too deep (over 1,000 levels)."})
