from __future__ import annotations


import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, GistIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Collate, Lower, Trim
from django.contrib.postgres.indexes import OpClass
from django.utils import timezone
from guardian.models import UserObjectPermissionBase
from pgvector.django import HnswIndex, VectorField

from companies.models import Address, validate_timezone
from contacts.phones import SealablePhoneNumberField
from crm.custom_fields import clean_custom_fields
from crm.encryption import CustomFieldsJSONField, SealedCharField, SealedCustomFieldsMixin, SealedJSONField
from crm.models import EmbeddedMixin, OrgModel, SoftDeleteMixin, Tag
from crm.permissions import contact_visibility_q, own_or_admin_q
from crm.search import digits, fold
from crm.querysets import LiveManager, SoftDeleteQuerySet


class LifecycleStage(models.TextChoices):
    LEAD = "lead", "Lead"
    MQL = "mql", "Marketing qualified lead"
    SQL = "sql", "Sales qualified lead"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    EVANGELIST = "evangelist", "Evangelist"


class Source(models.TextChoices):
    WEBSITE = "website", "Website"
    REFERRAL = "referral", "Referral"
    EVENT = "event", "Event"
    COLD_OUTREACH = "cold_outreach", "Cold outreach"
    INBOUND_CALL = "inbound_call", "Inbound call"
    INBOUND_SMS = "inbound_sms", "Inbound SMS"
    SOCIAL = "social", "Social media"
    PARTNER = "partner", "Partner"
    ADVERTISING = "advertising", "Advertising"
    IMPORT = "import", "Import"
    API = "api", "API"
    OTHER = "other", "Other"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    CALL = "call", "Phone call"


class ConsentStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    GRANTED = "granted", "Granted"
    REVOKED = "revoked", "Revoked"


class ContactTime(models.TextChoices):
    ANY = "any", "Any time"
    MORNING = "morning", "Morning"
    AFTERNOON = "afternoon", "Afternoon"
    EVENING = "evening", "Evening"


class NotificationTopic(models.TextChoices):
    NEWSLETTER = "newsletter", "Newsletter"
    PRODUCT_UPDATES = "product_updates", "Product updates"
    EVENTS = "events", "Events and webinars"
    PROMOTIONS = "promotions", "Offers and promotions"
    APPOINTMENT_REMINDERS = "appointment_reminders", "Appointment reminders"


def normalize_email(value: str) -> str:
    return (value or "").strip().lower()


def build_display_name(first: str, middle: str = "", last: str = "") -> str:
    return " ".join(part.strip() for part in (first, middle, last) if part and part.strip())


def derived_values(first: str, middle: str, last: str, phone: str, mobile: str) -> dict[str, str]:
    """The columns a contact derives from its names and phones (Contact.derive_fields, and the
    import's COPY and UPDATE, which write rows without model instances)."""
    display = build_display_name(first, middle, last)
    return {"display_name": display, "search_name": fold(display),
            "search_name_rev": fold(build_display_name(last, first, middle)),
            "phone_digits": " ".join(d for d in (digits(phone), digits(mobile)) if d)}


# Derived columns are not part of the audit trail (they follow the fields they come from).
# The score is computed (contacts.scoring) and has its own history (ScoreHistory): the nightly
# recompute would otherwise write an audit event for most contacts every night.
_CONTACT_UNTRACKED = ["embedding", "search_name", "search_name_rev", "company_name", "phone_digits",
                      "phone_hash", "mobile_hash", "dedupe_keys", "search_vector", "last_activity_at", "last_contacted_at",
                      "score"]

# Lead scoring: contacts whose score inputs changed are queued in contacts_scorepending by triggers,
# whatever wrote the change (form, API, import, bulk edit, merge); contacts.scoring empties the queue.
SCORE_QUEUE_ROW = ("INSERT INTO contacts_scorepending (contact_id, organization_id, queued_at) "
                   "VALUES ({row}.{column}, {row}.organization_id, now()) ON CONFLICT (contact_id) DO NOTHING;")
SCORE_QUEUE_ROWS = ("INSERT INTO contacts_scorepending (contact_id, organization_id, queued_at) "
                    "SELECT DISTINCT {column}, organization_id, now() FROM {table} WHERE {column} IS NOT NULL "
                    "ON CONFLICT (contact_id) DO NOTHING;")
# What a contact's score depends on among its own columns (the rest: activities, companies, messages).
CONTACT_SCORE_FIELDS = ("job_title", "industry", "company_name", "email_consent", "sms_consent", "call_consent",
                        "deleted_at")


# What a contact's embedding is made of (contacts.semantic.contact_text, tags aside).
CONTACT_EMBEDDING_FIELDS = ("first_name", "middle_name", "last_name", "job_title", "department", "company_name",
                            "industry", "description", "custom_fields")


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=_CONTACT_UNTRACKED, exclude_auto=True)),
    pghistory.DeleteEvent(),
    exclude=_CONTACT_UNTRACKED,
)
@pgtrigger.register(
    # A change to any text the embedding is made of (contacts.semantic.contact_text) clears the
    # embedding, whatever path wrote it (form, API, import, bulk edit); the worker re-embeds it.
    pgtrigger.Trigger(
        name="contact_embedding_stale", when=pgtrigger.Before, operation=pgtrigger.Update,
        condition=pgtrigger.AnyChange(*CONTACT_EMBEDDING_FIELDS),
        func="NEW.embedding := NULL; RETURN NEW;",
    ),
    pgtrigger.Trigger(
        name="contact_score_inputs_inserted", when=pgtrigger.After, operation=pgtrigger.Insert,
        level=pgtrigger.Statement, referencing=pgtrigger.Referencing(new="new_rows"),
        func=SCORE_QUEUE_ROWS.format(column="id", table="new_rows") + " RETURN NULL;",
    ),
    pgtrigger.Trigger(
        name="contact_score_inputs_changed", when=pgtrigger.After, operation=pgtrigger.Update,
        condition=pgtrigger.AnyChange(*CONTACT_SCORE_FIELDS),
        func=SCORE_QUEUE_ROW.format(row="NEW", column="id") + " RETURN NULL;",
    ),
)
class Contact(SealedCustomFieldsMixin, EmbeddedMixin, SoftDeleteMixin, OrgModel, Address):
    EMBEDDING_FIELDS = CONTACT_EMBEDDING_FIELDS
    CUSTOM_FIELDS_MODEL = "contact"

    team = models.ForeignKey("crm.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="owned_contacts")

    first_name = models.CharField(max_length=100)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    display_name = models.CharField(max_length=310, editable=False)
    email = models.EmailField(blank=True)
    phone = SealablePhoneNumberField(blank=True)
    mobile = SealablePhoneNumberField(blank=True)
    job_title = models.CharField(max_length=150, blank=True)
    department = models.CharField(max_length=120, blank=True)
    companies = models.ManyToManyField("companies.Company", through="ContactCompany", related_name="contacts")
    birth_date = models.DateField(null=True, blank=True)
    website = models.URLField(blank=True)
    linkedin = models.CharField("LinkedIn", max_length=200, blank=True)
    twitter = models.CharField("Twitter / X", max_length=100, blank=True)
    skype = models.CharField(max_length=100, blank=True)
    telegram = models.CharField(max_length=100, blank=True)
    external_id = models.CharField("external ID", max_length=100, blank=True,
                                   help_text="The contact's id in another system (imports match on it).")

    source = models.CharField(max_length=32, choices=Source.choices, blank=True)
    source_detail = models.CharField(max_length=255, blank=True)
    lifecycle_stage = models.CharField(max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.LEAD)
    # Computed by contacts.scoring (read-only everywhere else); ScoreHistory keeps its breakdowns.
    score = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)], editable=False)
    industry = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)

    # Communication preferences
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    preferred_channels = ArrayField(models.CharField(max_length=8, choices=Channel.choices), default=list,
                                    blank=True, help_text="Channels in order of preference.")
    preferred_contact_time = models.CharField(max_length=16, choices=ContactTime.choices, default=ContactTime.ANY)
    notification_opt_ins = ArrayField(models.CharField(max_length=32, choices=NotificationTopic.choices),
                                      default=list, blank=True)

    # Current consent per channel; the ConsentEvent ledger holds how it got here.
    email_consent = models.CharField(max_length=8, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN,
                                     editable=False)
    sms_consent = models.CharField(max_length=8, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN,
                                   editable=False)
    call_consent = models.CharField(max_length=8, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN,
                                    editable=False)

    tags = models.ManyToManyField(Tag, through="ContactTag", related_name="contacts", blank=True)
    custom_fields = CustomFieldsJSONField(default=dict, blank=True)
    # Values of sensitive custom fields, encrypted (crm.encryption); merged into custom_fields on read.
    custom_fields_sealed = SealedJSONField()
    # Phones of an organization that encrypts them (contacts.phones): `phone`/`mobile` are then
    # empty in the table, the numbers are here encrypted, and found by the keyed hash (exact only).
    phone_sealed = SealedCharField()
    mobile_sealed = SealedCharField()
    phone_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    mobile_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    enrichment = models.JSONField(default=dict, blank=True, editable=False,
                                  help_text="Enriched values with their provenance (source, fetched at).")
    ai_insights = models.JSONField(default=dict, blank=True, editable=False)
    embedding = VectorField(dimensions=384, null=True, blank=True, editable=False)

    # Search keys, derived on save (and by bulk loaders with crm.search.fold):
    # folded "first middle last" and "last first middle" for prefix search in "C" collation,
    # the primary company's name (shown as "Full Name (Company)"), and phone digits.
    search_name = models.CharField(max_length=320, editable=False, default="")
    search_name_rev = models.CharField(max_length=320, editable=False, default="")
    company_name = models.CharField(max_length=200, editable=False, default="", blank=True)
    phone_digits = models.CharField(max_length=64, editable=False, default="")
    # Duplicate-detection blocking keys (contacts.dedupe.contact_keys), derived on save and by
    # imports, and refreshed by the organization scan (other COPY writers' rows get theirs there).
    dedupe_keys = ArrayField(models.CharField(max_length=200), default=list, blank=True, editable=False)
    # Full-text search document, computed by PostgreSQL ('simple' config: names and
    # jargon are not stemmed); weights rank name > email/company > work > notes.
    search_vector = models.GeneratedField(
        expression=(
            SearchVector("search_name", weight="A", config="simple")
            + SearchVector("email", "company_name", weight="B", config="simple")
            + SearchVector("job_title", "department", "industry", weight="C", config="simple")
            + SearchVector("description", weight="D", config="simple")
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    last_activity_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_contacted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set (with deleted_at) when this record was merged into another one (contacts/merge.py).
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="merged_records", editable=False)

    objects = LiveManager()
    all_objects = SoftDeleteQuerySet.as_manager()
    constraint_error_fields = {"duplicate_email": "email", "duplicate_external_id": "external_id"}

    class Meta:
        ordering = ["-created_at", "-id"]
        base_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"], condition=Q(deleted_at__isnull=True) & ~Q(email=""),
                name="contact_email_unique_per_org", violation_error_code="duplicate_email",
                violation_error_message="A contact with this email already exists in your organization.",
            ),
            models.UniqueConstraint(
                fields=["organization", "external_id"], condition=Q(deleted_at__isnull=True) & ~Q(external_id=""),
                name="contact_external_id_unique_per_org", violation_error_code="duplicate_external_id",
                violation_error_message="A contact with this external ID already exists in your organization.",
            ),
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=100), name="contact_score_0_100"),
            # Stored normalized, so the unique index above is case-insensitive in effect
            # and serves equality lookups directly.
            models.CheckConstraint(condition=Q(email=Lower(Trim("email"))), name="contact_email_normalized"),
        ]
        indexes = [
            # Keyset pagination, newest first, per organization.
            models.Index(fields=["organization", "-created_at", "-id"], name="contact_org_created_idx"),
            # Owner and team lead the visibility of reps, managers and viewers: newest first
            # straight from the index for their lists (also serve owner/team equality).
            models.Index(fields=["organization", "owner", "-created_at", "-id"], name="contact_org_owner_created_idx"),
            models.Index(fields=["organization", "team", "-created_at", "-id"], name="contact_org_team_created_idx"),
            models.Index(fields=["organization", "lifecycle_stage"], name="contact_org_stage_idx"),
            models.Index(fields=["organization", "source"], name="contact_org_source_idx"),
            models.Index(fields=["organization", "-updated_at", "-id"], name="contact_org_updated_idx"),
            models.Index(fields=["organization", "-last_activity_at", "-id"], name="contact_org_activity_idx"),
            models.Index(fields=["organization", "score", "id"], name="contact_org_score_idx"),
            # The organization-wide score recompute walks live contacts in id order.
            models.Index(fields=["organization", "id"], name="contact_org_live_id_idx",
                         condition=Q(deleted_at__isnull=True)),
            models.Index(fields=["organization", "email_consent"], name="contact_org_email_consent_idx"),
            models.Index(fields=["organization", "sms_consent"], name="contact_org_sms_consent_idx"),
            models.Index(fields=["organization", "call_consent"], name="contact_org_call_consent_idx"),
            models.Index(fields=["organization", "phone"], name="contact_org_phone_idx"),
            models.Index(fields=["organization", "mobile"], name="contact_org_mobile_idx"),
            models.Index(fields=["organization", "phone_hash"], name="contact_org_phone_hash_idx",
                         condition=~Q(phone_hash="")),
            models.Index(fields=["organization", "mobile_hash"], name="contact_org_mobile_hash_idx",
                         condition=~Q(mobile_hash="")),
            models.Index(fields=["organization", "deleted_at"], name="contact_org_deleted_idx",
                         condition=Q(deleted_at__isnull=False)),
            GinIndex(fields=["custom_fields"], name="contact_custom_fields_gin", opclasses=["jsonb_path_ops"]),
            # Search-as-you-type: prefix ranges in "C" collation give index order for free.
            models.Index(F("organization"), Collate("search_name", "C"), F("id"), name="contact_search_name_idx"),
            models.Index(F("organization"), Collate("search_name_rev", "C"), F("id"),
                         name="contact_search_rev_idx"),
            models.Index(F("organization"), Collate("email", "C"), name="contact_email_prefix_idx"),
            GinIndex(OpClass("phone_digits", name="gin_trgm_ops"), name="contact_phone_digits_trgm"),
            GinIndex(fields=["search_vector"], name="contact_search_vector_gin"),
            # Semantic search: HNSW over cosine distance (pgvector >= 0.8 for iterative scans).
            HnswIndex(fields=["embedding"], name="contact_embedding_hnsw", m=16, ef_construction=64,
                      opclasses=["vector_cosine_ops"]),
            # What the embedding worker still has to do.
            models.Index(fields=["organization", "id"], name="contact_embedding_pending_idx",
                         condition=Q(embedding__isnull=True, deleted_at__isnull=True)),
            # The create-time duplicate check: contacts sharing a blocking key.
            GinIndex(fields=["dedupe_keys"], name="contact_dedupe_keys_gin"),
        ]

    def __str__(self):
        return self.display_name or self.first_name

    @classmethod
    def visibility_q(cls, scope, action):
        return contact_visibility_q(scope, action)

    def clean_fields(self, exclude=None):
        # Normalize before the field validators see the values.
        self.email = normalize_email(self.email)
        for name in ("first_name", "middle_name", "last_name"):
            setattr(self, name, (getattr(self, name) or "").strip())
        super().clean_fields(exclude)

    _clean_exclude: frozenset = frozenset()

    def full_clean(self, exclude=None, validate_unique=True, validate_constraints=True):
        # clean() sees what the caller excluded (Django only passes it to the field checks).
        self._clean_exclude = frozenset(exclude or ())
        try:
            super().full_clean(exclude, validate_unique, validate_constraints)
        finally:
            self._clean_exclude = frozenset()

    def clean(self):
        super().clean()
        if not self.first_name:
            raise ValidationError({"first_name": "A contact needs at least a first name."})
        if self.organization_id:
            self._check_same_organization(team=self.team)
            if self.owner_id:
                from crm.models import Membership

                if not Membership.objects.filter(user_id=self.owner_id, organization_id=self.organization_id).exists():
                    raise ValidationError({"owner": "The owner must be a member of your organization."})
            from contacts.privacy import contact_errors

            blocked = contact_errors(self)
            if blocked:
                raise ValidationError(blocked)
            if "custom_fields" in self._clean_exclude:
                return  # e.g. restoring from the trash: the values are not being written
            # The industry's form layout decides which custom fields are required.
            definitions, _ = contact_custom_definitions(self.organization_id, self.industry)
            self.custom_fields = clean_custom_fields(self.organization_id, "contact", self.custom_fields,
                                                     definitions=definitions)

    DERIVED_FROM = {
        "display_name": {"first_name", "middle_name", "last_name"},
        "search_name": {"first_name", "middle_name", "last_name"},
        "search_name_rev": {"first_name", "middle_name", "last_name"},
        "phone_digits": {"phone", "mobile"},
        "dedupe_keys": {"first_name", "last_name", "email", "phone", "mobile"},
        "phone_sealed": {"phone"}, "phone_hash": {"phone"},
        "mobile_sealed": {"mobile"}, "mobile_hash": {"mobile"},
    }

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        data = instance.__dict__
        for name in ("phone", "mobile"):
            sealed = data.get(f"{name}_sealed")
            if sealed and name in data and not data[name]:
                setattr(instance, name, str(sealed))  # the decrypted number (contacts.phones)
        from contacts.enrichment import ENRICHMENT_INPUTS, inputs_of

        if set(ENRICHMENT_INPUTS) <= set(field_names):
            # The enrichment inputs as read: a save that changes them asks for enrichment.
            instance._enrichment_seen = inputs_of(instance)
        # What the tombstone check compares with (contacts.privacy.contact_errors): only a value
        # that changes is checked against the tombstones of erased people.
        instance._loaded_identity = {name: str(instance.__dict__[name] or "")
                                     for name in ("email", "phone", "mobile") if name in instance.__dict__}
        return instance

    def encrypts_phones(self) -> bool:
        """Whether this contact's organization stores phones encrypted (looked up once per instance)."""
        cached = self.__dict__.get("_encrypts_phones_cache")
        if cached is None or cached[0] != self.organization_id:
            from contacts.phones import organization_encrypts

            # From the database, not a cached Organization instance: the flag may have just changed.
            cached = (self.organization_id, organization_encrypts(self.organization_id))
            self.__dict__["_encrypts_phones_cache"] = cached
        return cached[1]

    def derive_fields(self):
        self.email = normalize_email(self.email)
        encrypted = self.encrypts_phones()
        for name, value in derived_values(self.first_name, self.middle_name, self.last_name,
                                          "" if encrypted else str(self.phone or ""),
                                          "" if encrypted else str(self.mobile or "")).items():
            setattr(self, name, value)
        from contacts.dedupe import keys_for

        self.dedupe_keys = keys_for(self)

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        super().refresh_from_db(using, fields, from_queryset)
        if fields is None:
            from contacts.enrichment import inputs_of

            self._enrichment_seen = inputs_of(self)

    def restore(self):
        # Coming back from the trash is a re-creation as far as erased people go: the email is
        # checked against the tombstones (phones only when changed: a shared landline stays usable).
        self._loaded_identity = {**getattr(self, "_loaded_identity", {}), "email": ""}
        super().restore()

    def save(self, *args, **kwargs):
        from contacts import phones

        self.derive_fields()
        adding = self._state.adding
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            update_fields = set(update_fields)
            kwargs["update_fields"] = update_fields | {
                derived for derived, sources in self.DERIVED_FROM.items() if sources & update_fields}
        if not ({"phone_sealed", "mobile_sealed"} & self.get_deferred_fields()):  # else: left as stored
            encrypt = self.encrypts_phones()
            phones.seal(self, encrypt)
            # The phone columns are written empty (SealablePhoneNumberField); the instance keeps the numbers.
            self._phones_sealed_now = encrypt
        try:
            super().save(*args, **kwargs)
        finally:
            self._phones_sealed_now = False
        # Only saves that can change a name feed the vocabulary (not e.g. soft delete).
        if update_fields is None or "search_name" in kwargs["update_fields"]:
            NameWord.add(self.organization_id, self.search_name)
        from contacts.enrichment import ENRICHMENT_INPUTS, contact_saved, inputs_of

        if adding or update_fields is None or set(update_fields) & set(ENRICHMENT_INPUTS):
            contact_saved(self, None if adding else getattr(self, "_enrichment_seen", None))
            self._enrichment_seen = inputs_of(self)


class BelongsToContact:
    """Rows that hang off a contact are visible and writable together with it."""

    contact_path = "contact__"

    @classmethod
    def visibility_q(cls, scope, action):
        return contact_visibility_q(scope, action, cls.contact_path)


class NameWord(models.Model):
    """The distinct words of contact names in an organization: a small vocabulary in which
    typo correction looks up similar words by trigram distance (far cheaper than trigram
    search over every contact). Words are only added; a stale word merely finds nothing."""

    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, db_index=False)
    word = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "word"], name="name_word_unique")]
        indexes = [GistIndex(F("organization"), OpClass("word", name="gist_trgm_ops"), name="name_word_trgm")]

    def __str__(self):
        return self.word

    @classmethod
    def add(cls, organization_id, search_name: str) -> None:
        words = {w[:100] for w in search_name.split() if len(w) >= 2}
        if words:
            cls.objects.bulk_create([cls(organization_id=organization_id, word=w) for w in words],
                                    ignore_conflicts=True)

    @classmethod
    def rebuild(cls, organization_id) -> None:
        """Vocabulary from every contact of the organization (after bulk loads)."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {cls._meta.db_table} (organization_id, word) "
                "SELECT DISTINCT organization_id, left(w, 100) FROM "
                f"{Contact._meta.db_table}, unnest(string_to_array(search_name, ' ')) AS w "
                "WHERE organization_id = %s AND length(w) >= 2 ON CONFLICT DO NOTHING",
                [organization_id],
            )


class ContactUserObjectPermission(UserObjectPermissionBase):
    """Direct-FK guardian grants (e.g. view_contact, change_contact) to share one contact with a user."""

    content_object = models.ForeignKey(Contact, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        indexes = [models.Index(fields=["user", "content_object"])]


_TAGS_CHANGED = "UPDATE contacts_contact SET embedding = NULL WHERE embedding IS NOT NULL AND id IN " \
                "(SELECT contact_id FROM changed); RETURN NULL;"


@pghistory.track()
@pgtrigger.register(
    # Tags are part of a contact's embedding text: adding or removing one makes it stale.
    pgtrigger.Trigger(name="contact_tag_added_embedding_stale", when=pgtrigger.After, operation=pgtrigger.Insert,
                      level=pgtrigger.Statement, referencing=pgtrigger.Referencing(new="changed"),
                      func=_TAGS_CHANGED),
    pgtrigger.Trigger(name="contact_tag_removed_embedding_stale", when=pgtrigger.After, operation=pgtrigger.Delete,
                      level=pgtrigger.Statement, referencing=pgtrigger.Referencing(old="changed"),
                      func=_TAGS_CHANGED),
)
class ContactTag(BelongsToContact, OrgModel):
    # Indexed by the (contact, tag) constraint and the (tag, contact) index.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="contact_tag_unique")]
        indexes = [models.Index(fields=["tag", "contact"])]

    def __str__(self):
        return f"{self.contact} · {self.tag}"

    def clean(self):
        super().clean()
        self._check_same_organization(contact=self.contact, tag=self.tag)


class DecisionRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", "Decision maker"
    ECONOMIC_BUYER = "economic_buyer", "Economic buyer"
    TECHNICAL_BUYER = "technical_buyer", "Technical buyer"
    CHAMPION = "champion", "Champion"
    INFLUENCER = "influencer", "Influencer"
    GATEKEEPER = "gatekeeper", "Gatekeeper"
    BLOCKER = "blocker", "Blocker"
    END_USER = "end_user", "End user"


_LINK_SCORE = ("IF TG_OP = 'DELETE' THEN " + SCORE_QUEUE_ROW.format(row="OLD", column="contact_id")
               + " ELSE " + SCORE_QUEUE_ROW.format(row="NEW", column="contact_id") + " END IF; RETURN NULL;")


@pghistory.track()
@pgtrigger.register(
    # Which company is primary (its size band and industry) is a score input.
    pgtrigger.Trigger(name="contact_company_score_inputs", when=pgtrigger.After,
                      operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete, func=_LINK_SCORE),
)
class ContactCompany(BelongsToContact, OrgModel):
    """A contact's link to a company: job role there, buying role, primary flag."""

    @classmethod
    def visibility_q(cls, scope, action):
        # Links to a company in the trash are hidden with it (and come back with it).
        q = contact_visibility_q(scope, action, cls.contact_path)
        return None if q is None else q & Q(company__deleted_at__isnull=True)

    constraint_error_fields = {"duplicate_link": "company", "second_primary": "is_primary"}

    # Indexed by the (contact, company) constraint and the (company, contact) index.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="company_links", db_index=False)
    company = models.ForeignKey("companies.Company", on_delete=models.CASCADE, related_name="contact_links",
                                db_index=False)
    role = models.CharField(max_length=150, blank=True, help_text="Job role at this company.")
    decision_role = models.CharField(max_length=32, choices=DecisionRole.choices, blank=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        verbose_name = "contact–company link"
        constraints = [
            models.UniqueConstraint(fields=["contact", "company"], name="contact_company_unique",
                                    violation_error_code="duplicate_link", violation_error_message="This contact is already linked to this company."),
            models.UniqueConstraint(fields=["contact"], condition=Q(is_primary=True),
                                    name="contact_one_primary_company", violation_error_code="second_primary",
                                    violation_error_message="A contact can have only one primary company."),
        ]
        indexes = [models.Index(fields=["company", "contact"])]

    def __str__(self):
        return f"{self.contact} @ {self.company}"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        refresh_company_names(contact_ids=[self.contact_id])

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        refresh_company_names(contact_ids=[self.contact_id])
        return result

    def clean(self):
        super().clean()
        self._check_same_organization(contact=self.contact, company=self.company)


def refresh_company_names(*, contact_ids=None, company_id=None) -> int:
    """Recompute Contact.company_name (primary company first, else the oldest link)
    for some contacts, or for every contact linked to one company."""
    name = (ContactCompany.objects.filter(contact_id=models.OuterRef("pk"), company__deleted_at__isnull=True)
            .order_by("-is_primary", "id").values("company__name")[:1])
    contacts = Contact.all_objects.all()
    if contact_ids is not None:
        contacts = contacts.filter(pk__in=contact_ids)
    if company_id is not None:
        contacts = contacts.filter(pk__in=ContactCompany.objects.filter(company_id=company_id).values("contact_id"))
    return contacts.update(company_name=Coalesce(models.Subquery(name), models.Value("")))


class RelationshipType(models.TextChoices):
    REPORTS_TO = "reports_to", "Reports to"
    MANAGES = "manages", "Manages"
    ASSISTANT_OF = "assistant_of", "Assistant of"
    REFERRED_BY = "referred_by", "Referred by"
    COLLEAGUE = "colleague", "Colleague of"
    PARTNER = "partner", "Partner of"
    SPOUSE = "spouse", "Spouse of"
    FAMILY = "family", "Family of"
    FRIEND = "friend", "Friend of"
    OTHER = "other", "Other"


@pghistory.track()
class ContactRelationship(BelongsToContact, OrgModel):
    """Typed, directional: `from_contact` <type> `to_contact` (e.g. Ann reports to Bob)."""

    contact_path = "from_contact__"
    constraint_error_fields = {"duplicate_relationship": "to_contact"}

    # Indexed by the (from, to, type) constraint and the (to, type) index.
    from_contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="relationships_out",
                                     db_index=False)
    to_contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="relationships_in",
                                   db_index=False)
    type = models.CharField(max_length=32, choices=RelationshipType.choices)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(from_contact=models.F("to_contact")), name="relationship_not_self",
                                   violation_error_message="A contact cannot be related to itself."),
            models.UniqueConstraint(fields=["from_contact", "to_contact", "type"], name="relationship_unique",
                                    violation_error_code="duplicate_relationship", violation_error_message="This relationship already exists."),
        ]
        indexes = [models.Index(fields=["to_contact", "type"])]

    def __str__(self):
        return f"{self.from_contact} {self.get_type_display().lower()} {self.to_contact}"

    def clean(self):
        super().clean()
        if self.from_contact_id and self.from_contact_id == self.to_contact_id:
            raise ValidationError({"to_contact": "A contact cannot be related to itself."})
        self._check_same_organization(from_contact=self.from_contact, to_contact=self.to_contact)


class ContactUserLink(BelongsToContact, OrgModel):
    """An internal user's role for a contact (account manager, support rep, executive sponsor …)."""

    class Role(models.TextChoices):
        ACCOUNT_MANAGER = "account_manager", "Account manager"
        SUPPORT_REP = "support_rep", "Support rep"
        EXECUTIVE_SPONSOR = "executive_sponsor", "Executive sponsor"
        SALES_ENGINEER = "sales_engineer", "Sales engineer"
        OTHER = "other", "Other"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="user_links", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_links")
    role = models.CharField(max_length=32, choices=Role.choices)

    class Meta:
        verbose_name = "contact–user link"
        constraints = [models.UniqueConstraint(fields=["contact", "user", "role"], name="contact_user_role_unique",
                                               violation_error_message="This user already has this role.")]
        indexes = [models.Index(fields=["user", "contact"])]

    def __str__(self):
        return f"{self.user} — {self.get_role_display()} for {self.contact}"

    def clean(self):
        super().clean()
        self._check_same_organization(contact=self.contact)
        if self.user_id and self.organization_id:
            from crm.models import Membership

            if not Membership.objects.filter(user_id=self.user_id, organization_id=self.organization_id).exists():
                raise ValidationError({"user": "Choose a member of your organization."})


@pgtrigger.register(
    # The ledger is append-only: history of consent is evidence, never rewritten.
    pgtrigger.Protect(name="consent_ledger_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
)
class ConsentEvent(BelongsToContact, OrgModel):
    """One change of a contact's consent on one channel, with its evidence."""

    class Source(models.TextChoices):
        WEB_FORM = "web_form", "Web form"
        MANUAL = "manual", "Entered by a user"
        IMPORT = "import", "Import"
        API = "api", "API"
        SMS_KEYWORD = "sms_keyword", "SMS keyword (STOP/START)"
        EMAIL_LINK = "email_link", "Email unsubscribe link"
        PHONE = "phone", "Verbal, on a call"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_events", db_index=False)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=8, choices=ConsentStatus.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    evidence = models.TextField(blank=True, help_text="Wording shown, message text, form URL …")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["contact", "channel", "-occurred_at"])]

    def __str__(self):
        return f"{self.contact}: {self.channel} {self.status}"

    def clean(self):
        super().clean()
        self._check_same_organization(contact=self.contact)
        if self.status == ConsentStatus.UNKNOWN:
            raise ValidationError({"status": "Record a consent as granted or revoked."})


# -- segments and saved views


class Sharing(models.TextChoices):
    PRIVATE = "private", "Only me"
    TEAM = "team", "My team"
    ORGANIZATION = "organization", "Everyone in the organization"


def shared_visibility_q(scope, action, creator_field: str) -> Q | None:
    """Segments and saved views: a member sees their own, those shared with their team
    and the organization-wide ones; org admins see and manage all of their organization;
    only the creator (or an org admin) changes or deletes one. Viewers are read-only."""
    from crm.permissions import VIEW

    if scope.is_admin:
        return Q()
    own = Q(**{f"{creator_field}_id": scope.user_id})
    if action == VIEW:
        team = Q(sharing=Sharing.TEAM, team_id__in=scope.team_ids) if scope.team_ids else Q(pk__in=[])
        return own | team | Q(sharing=Sharing.ORGANIZATION)
    if not scope.can_write:
        return None
    return own


def share_with_team(instance, previous_sharing, user) -> None:
    """Sharing with "team" means the team of whoever chose it; other levels keep no team."""
    from crm.permissions import Scope

    if instance.sharing != Sharing.TEAM:
        instance.team = None
    elif previous_sharing != Sharing.TEAM or instance.team_id is None:
        scope = Scope.of(user)
        instance.team_id = scope.team_ids[0] if scope and scope.team_ids else None


class SharedModel(OrgModel):
    """What segments and saved views have in common: a name, an owner, a sharing level."""

    constraint_error_fields = {"duplicate_name": "name"}

    name = models.CharField(max_length=120)
    sharing = models.CharField(max_length=16, choices=Sharing.choices, default=Sharing.PRIVATE)
    # The team it is shared with (the creator's team when they chose "My team").
    team = models.ForeignKey("crm.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        abstract = True

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        self.name = (self.name or "").strip()
        if not self.name:
            raise ValidationError({"name": "Give it a name."})
        if self.sharing == Sharing.TEAM:
            if self.team_id is None:
                raise ValidationError({"sharing": "You are not on a team: keep it private or share it with "
                                                  "the organization."})
            self._check_same_organization(team=self.team)
        elif self.team_id is not None:
            self.team = None


class Segment(SharedModel):
    """A stored, nested and/or criteria tree over contacts (see contacts/segments.py),
    evaluated as one SQL query wherever contacts are listed, counted or acted on."""

    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="segments", editable=False)
    criteria = models.JSONField(default=dict, help_text='A tree like {"op": "and", "rules": [{"field": '
                                                        '"lifecycle_stage", "operator": "in", "value": ["lead"]}]}.')

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("name"), name="segment_name_unique_per_org",
                violation_error_code="duplicate_name",
                violation_error_message="A segment with this name already exists in your organization.",
            )
        ]
        indexes = [models.Index(fields=["organization", "created_by"], name="segment_org_creator_idx")]

    @classmethod
    def visibility_q(cls, scope, action):
        return shared_visibility_q(scope, action, "created_by")

    def clean(self):
        super().clean()
        if self.organization_id:
            from contacts.segments import CriteriaError, validate_criteria

            try:
                self.criteria = validate_criteria(self.criteria, self.organization_id)
            except CriteriaError as exc:
                raise ValidationError({"criteria": exc.messages}) from None

    def q(self):
        """The criteria as one Q on Contact."""
        from contacts.segments import compile_criteria

        return compile_criteria(self.criteria, self.organization_id)

    def contacts_for(self, user):
        """The contacts `user` may see that match."""
        return Contact.objects.visible_to(user).filter(self.q())


# Columns a saved view can show on the contact list (the name column is always there).
LIST_COLUMNS = [
    ("company", "Company"), ("stage", "Stage"), ("owner", "Owner"), ("date", "Date (follows the sort)"),
    ("email", "Email"), ("phone", "Phone"), ("score", "Score"), ("source", "Source"), ("industry", "Industry"),
    ("job_title", "Job title"), ("city", "City"), ("country", "Country"), ("last_activity", "Last activity"),
    ("created", "Added"),
]
DEFAULT_LIST_COLUMNS = ["company", "stage", "owner", "date"]


def default_columns():
    return list(DEFAULT_LIST_COLUMNS)


class SavedView(SharedModel):
    """A named contact list: its filters (the list's query parameters), columns and sort."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                             related_name="saved_views", editable=False)
    filters = models.JSONField(default=dict, blank=True,
                               help_text="The contact list's query parameters, e.g. {\"lifecycle_stage\": [\"lead\"]}.")
    columns = ArrayField(models.CharField(max_length=24, choices=LIST_COLUMNS), default=default_columns)
    ordering = models.CharField(max_length=24, default="-created")

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "organization", "user", Lower("name"), name="saved_view_name_unique_per_user",
                violation_error_code="duplicate_name",
                violation_error_message="You already have a view with this name.",
            )
        ]
        indexes = [models.Index(fields=["organization", "user"], name="saved_view_org_user_idx")]

    @classmethod
    def visibility_q(cls, scope, action):
        return shared_visibility_q(scope, action, "user")

    def clean(self):
        super().clean()
        from contacts.filters import validate_ordering

        errors = {}
        try:
            validate_ordering(self.ordering or "")
        except ValidationError as exc:
            errors["ordering"] = exc.messages
        known = dict(LIST_COLUMNS)
        unknown = [c for c in self.columns or [] if c not in known]
        if unknown:
            errors["columns"] = [f"Unknown column(s) {', '.join(map(str, unknown))}; choose from "
                                 f"{', '.join(known)}."]
        elif not self.columns:
            errors["columns"] = ["Choose at least one column."]
        else:
            self.columns = list(dict.fromkeys(self.columns))
        if errors:
            raise ValidationError(errors)


# ---------------------------------------------------------------------------
# Industry form layouts: which custom fields the contact form shows for an industry


@pghistory.track()
class FormLayout(OrgModel):
    """The custom fields a contact of one industry is asked for, in order, each optional or
    required. `industry` matches Contact.industry case-insensitively (trimmed). A contact whose
    industry has no layout gets every custom field with the definitions' own required flags."""

    constraint_error_fields = {"duplicate_industry": "industry"}

    industry = models.CharField(max_length=120, help_text="Matched case-insensitively against a contact's industry.")

    class Meta:
        ordering = ["industry"]
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("industry"), name="form_layout_industry_unique_per_org",
                violation_error_code="duplicate_industry",
                violation_error_message="A form layout for this industry already exists in your organization.",
            )
        ]

    def __str__(self):
        return self.industry

    def clean_fields(self, exclude=None):
        self.industry = " ".join((self.industry or "").split())
        super().clean_fields(exclude)

    @classmethod
    def for_industry(cls, organization_id, industry: str) -> "FormLayout | None":
        industry = " ".join((industry or "").split()).lower()
        if not industry or not organization_id:
            return None
        return (cls.objects.alias(industry_key=Lower("industry"))
                .filter(organization_id=organization_id, industry_key=industry).first())

    def definitions(self) -> list:
        """The layout's custom-field definitions in order, `required` set to the layout's flag
        (copies: the definitions' own flags stay as they are)."""
        result = []
        for entry in self.entries.select_related("definition").order_by("position", "id"):
            definition = entry.definition
            definition.required = entry.required
            result.append(definition)
        return result


@pghistory.track()
class FormLayoutField(OrgModel):
    """One custom field of a layout: its place and whether this industry requires it."""

    constraint_error_fields = {"duplicate_field": "definition"}

    layout = models.ForeignKey(FormLayout, on_delete=models.CASCADE, related_name="entries", db_index=False)
    definition = models.ForeignKey("crm.CustomFieldDefinition", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)
    required = models.BooleanField(default=False)

    class Meta:
        verbose_name = "form layout field"
        ordering = ["layout", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["layout", "definition"], name="form_layout_field_unique",
                                    violation_error_code="duplicate_field",
                                    violation_error_message="This field is already in the layout."),
        ]

    def __str__(self):
        return f"{self.layout} · {self.definition.label}"

    def clean(self):
        super().clean()
        self._check_same_organization(layout=self.layout, definition=self.definition)
        if self.definition_id and self.definition.model != "contact":
            raise ValidationError({"definition": "Choose a custom field of contacts."})


def contact_custom_definitions(organization_id, industry: str):
    """(definitions a contact of `industry` is validated against, ids of the layout's fields
    or None without a layout).

    With a layout, its fields carry the layout's required flags and come first, in its
    order; the organization's other contact fields are still type-checked when given (the
    API may send them) but never required, since the form does not ask for them."""
    from crm.custom_fields import definitions_for

    layout = FormLayout.for_industry(organization_id, industry)
    all_definitions = definitions_for(organization_id, "contact")
    if layout is None:
        return all_definitions, None
    ordered = layout.definitions()
    shown = {d.pk for d in ordered}
    for definition in all_definitions:
        if definition.pk not in shown:
            definition.required = False
            ordered.append(definition)
    return ordered, shown


# ---------------------------------------------------------------------------
# Assignment rules: new contacts without owner and team are routed to a team and owner


country_validator = RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO country code, e.g. US or DE.")


@pghistory.track(
    pghistory.InsertEvent(),  # The round-robin pointer moving is not an edit of the rule.
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=["last_assigned"], exclude_auto=True)),
    pghistory.DeleteEvent(), exclude=["last_assigned"],
)
class AssignmentRule(OrgModel):
    """Routes a new contact (created without owner and team: an inbound lead, an import row
    without owner column) to `team` and an owner. Rules are tried in `position` order; the
    first active rule whose conditions all match wins. An empty condition matches anything."""

    class OwnerStrategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round-robin among the team's reps and managers"
        FIXED = "fixed", "Always the same owner"
        TEAM_QUEUE = "team_queue", "Nobody: the team's queue"

    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField("active", default=True)
    # Conditions (empty = any)
    industry = models.CharField(max_length=120, blank=True, help_text="Matched case-insensitively.")
    country = models.CharField(max_length=2, blank=True, validators=[country_validator],
                               help_text="Two-letter ISO code of the contact's address.")
    region = models.CharField("state / region", max_length=120, blank=True,
                              help_text="The contact's state or region, matched case-insensitively.")
    source = models.CharField(max_length=32, choices=Source.choices, blank=True)
    # Target
    team = models.ForeignKey("crm.Team", on_delete=models.CASCADE, related_name="assignment_rules")
    owner_strategy = models.CharField(max_length=16, choices=OwnerStrategy.choices,
                                      default=OwnerStrategy.ROUND_ROBIN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", help_text="For a fixed owner: a member of the team.")
    # Round-robin pointer: the member who got the rule's last contact (the next one gets
    # the member with the next user id). Advanced under a row lock.
    last_assigned = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", editable=False)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["organization", "position", "id"], name="assignment_rule_org_pos_idx")]

    def __str__(self):
        return self.name

    def clean_fields(self, exclude=None):
        self.name = (self.name or "").strip()
        self.industry = " ".join((self.industry or "").split())
        self.region = " ".join((self.region or "").split())
        self.country = (self.country or "").strip().upper()
        super().clean_fields(exclude)

    def clean(self):
        super().clean()
        self._check_same_organization(team=self.team if self.team_id else None)
        if self.owner_strategy == self.OwnerStrategy.FIXED:
            if not self.owner_id:
                raise ValidationError({"owner": "Choose the owner who gets every contact of this rule."})
            if self.team_id:
                from crm.models import Membership

                if not Membership.objects.filter(user_id=self.owner_id, team_id=self.team_id,
                                                 organization_id=self.organization_id).exists():
                    raise ValidationError({"owner": "The owner must be a member of the rule's team."})
        elif self.owner_id:
            raise ValidationError({"owner": "Only a rule with a fixed owner names one; leave it empty."})

    def conditions(self) -> list[str]:
        parts = []
        if self.industry:
            parts.append(f"industry is {self.industry}")
        if self.country or self.region:
            parts.append("region is " + ", ".join(p for p in (self.region, self.country) if p))
        if self.source:
            parts.append(f"source is {self.get_source_display()}")
        return parts

    def matches(self, contact) -> bool:
        def same(a, b):
            return " ".join((a or "").split()).lower() == (b or "").lower()

        return ((not self.industry or same(contact.industry, self.industry))
                and (not self.country or (contact.country or "").strip().upper() == self.country)
                and (not self.region or same(contact.region, self.region))
                and (not self.source or contact.source == self.source))


# -- imports (contacts/imports.py) -----------------------------------------------------------

def import_upload_path(instance, filename: str) -> str:
    return f"imports/{instance.organization_id}/{timezone.now():%Y/%m}/{filename}"


class ImportOptions(models.TextChoices):
    """How matched rows are treated (ContactImport.options["mode"])."""

    CREATE_ONLY = "create_only", "Create new contacts only (skip rows that match one)"
    UPDATE = "update", "Create new contacts and update the ones that match"
    UPDATE_EMPTY = "update_empty", "Create new contacts and fill only the empty fields of the ones that match"


class ContactImport(OrgModel):
    """One uploaded file on its way into the organization's contacts: the stored file, what
    was read of it (format, encoding, headers, first rows), the mapping and options the user
    confirmed, and the jobs that preview it, import it and revert it. The rows' outcomes
    are in ImportRow; progress is the jobs' (crm.models.Job)."""

    class Stage(models.TextChoices):
        UPLOADED = "uploaded", "Waiting for the mapping"
        PREVIEWING = "previewing", "Checking the file"
        PREVIEWED = "previewed", "Ready to import"
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        REVERTING = "reverting", "Being reverted"
        REVERTED = "reverted", "Reverted"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="contact_imports", editable=False)
    file = models.FileField(upload_to=import_upload_path, max_length=300)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    format = models.CharField(max_length=8, blank=True)
    encoding = models.CharField(max_length=32, blank=True)
    delimiter = models.CharField(max_length=2, blank=True)
    headers = models.JSONField(default=list, blank=True)
    sample = models.JSONField(default=list, blank=True, help_text="The first rows as read, for the mapping form.")
    # One target per column (contacts.columns keys, "custom:<key>", or null: not imported).
    mapping = models.JSONField(default=list, blank=True)
    options = models.JSONField(default=dict, blank=True)
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.UPLOADED)
    error = models.TextField(blank=True, help_text="Why the file cannot be imported.")
    preview = models.JSONField(default=dict, blank=True, help_text="Counts and first rows of the dry run.")
    preview_job = models.ForeignKey("crm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run_job = models.ForeignKey("crm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revert_job = models.ForeignKey("crm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per outcome of the import.")
    # Rows the import created besides contacts, removed again by a revert.
    created_companies = ArrayField(models.BigIntegerField(), default=list, blank=True, editable=False)
    created_tags = ArrayField(models.BigIntegerField(), default=list, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at", "-id"], name="contact_import_org_idx")]

    def __str__(self):
        return self.file_name

    @classmethod
    def visibility_q(cls, scope, action):
        """Like jobs: the person who uploaded the file and org admins."""
        return own_or_admin_q(scope, action, "created_by")


class ImportRow(models.Model):
    """What one row of an import did: created or updated a contact (with the values before and
    after, for the revert), changed nothing, was skipped, invalid or a duplicate of an earlier
    row (with the row's original cells, for the error file)."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        MERGED = "merged", "Merged with an earlier row"
        UNCHANGED = "unchanged", "Unchanged"
        SKIPPED = "skipped", "Skipped"
        INVALID = "invalid", "Invalid"
        DUPLICATE = "duplicate", "Duplicate in the file"

    ERRORS = (Outcome.INVALID, Outcome.DUPLICATE)

    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, db_index=False)
    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="rows", db_index=False)
    line = models.PositiveIntegerField(help_text="The row's number in the file (the header is row 1).")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    contact_id = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True, help_text="The row's cells, for rows in the error file.")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["contact_import", "line"]
        constraints = [models.UniqueConstraint(fields=["contact_import", "line"], name="import_row_unique_line")]
        # The error file reads the failed rows in order; the revert walks the unique (import, line) index.
        indexes = [models.Index(fields=["contact_import", "line"], name="import_row_error_idx",
                                condition=Q(outcome__in=["invalid", "duplicate"]))]

    def __str__(self):
        return f"row {self.line}: {self.outcome}"


class ImportMapping(OrgModel):
    """A mapping saved for next time: normalized header -> target, with the options."""

    constraint_error_fields = {"duplicate_name": "name"}

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    name = models.CharField(max_length=120)
    columns = models.JSONField(default=dict, help_text='{"normalized header": "target"}')
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="import_mapping_name_unique",
                                    violation_error_code="duplicate_name",
                                    violation_error_message="A saved mapping with this name already exists."),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visibility_q(cls, scope, action):
        """Every member may use the organization's saved mappings; writers save them, and
        change or delete their own (admins: any)."""
        if action == "view":
            return Q()
        if not scope.can_write:
            return None
        return Q() if scope.is_admin else Q(created_by_id=scope.user_id)


# -- merges (contacts/merge.py) ---------------------------------------------------------------

class Merge(OrgModel):
    """One merge of contacts (or of companies) into a survivor: who did it, which records, the
    values chosen, and the log of every row it changed, deleted or added with the rows as they
    were before and after (row_to_json), which the undo restores exactly and checks for
    changes made since. The row changes are audited under a context naming the merge."""

    class Kind(models.TextChoices):
        CONTACT = "contact", "Contacts"
        COMPANY = "company", "Companies"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    survivor_id = models.BigIntegerField()
    merged_ids = ArrayField(models.BigIntegerField())
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # field -> id of the record its value was taken from
    fields = models.JSONField(default=dict, blank=True)
    # what was brought together: {"merged_names": [...], "counts": {"activities": n, ...}}
    summary = models.JSONField(default=dict, blank=True)
    log = models.JSONField(default=list, blank=True, editable=False)
    # The bulk merge (crm.Job) this merge was part of.
    job = models.ForeignKey("crm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "kind", "survivor_id"], name="merge_org_survivor_idx"),
            GinIndex(fields=["merged_ids"], name="merge_merged_ids_gin"),
        ]

    def __str__(self):
        return f"Merge #{self.pk}"

    @property
    def model(self):
        from companies.models import Company

        return Contact if self.kind == self.Kind.CONTACT else Company

    @classmethod
    def visibility_q(cls, scope, action):
        """A merge follows its survivor: seen (and undone) by whoever may see (change) it."""
        from companies.models import Company

        parts = []
        for kind, model in ((cls.Kind.CONTACT, Contact), (cls.Kind.COMPANY, Company)):
            q = model.visibility_q(scope, action)
            if q is not None:
                parts.append(Q(kind=kind) & models.Exists(
                    model.all_objects.filter(q, pk=models.OuterRef("survivor_id"))))
        if not parts:
            return None
        return parts[0] | parts[1] if len(parts) == 2 else parts[0]


# -- duplicates (contacts/dedupe.py, contacts/duplicates.py) -----------------------------------

class DuplicateStatus(models.TextChoices):
    OPEN = "open", "To review"
    DISMISSED = "dismissed", "Not a duplicate"
    MERGED = "merged", "Merged"


class DuplicatePair(OrgModel):
    """Two records that are likely one (first.id < second.id), with the score and the reasons
    the last scan or check found. "Not a duplicate" is remembered: scans never reopen it. A pair
    whose side was merged away (moved to the trash) is marked merged by the next scan."""

    score = models.FloatField()
    reasons = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=DuplicateStatus.choices, default=DuplicateStatus.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The scan that last found the pair (open pairs a later scan no longer finds are dropped).
    scan_job = models.ForeignKey("crm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 db_index=False)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.first_id} ~ {self.second_id} ({self.score:.2f})"

    @property
    def reasons_text(self) -> str:
        return ", ".join(self.reasons)


class ContactDuplicate(DuplicatePair):
    first = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    second = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["-score", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="contact_duplicate_unique"),
            models.CheckConstraint(condition=Q(first__lt=F("second")), name="contact_duplicate_ordered"),
        ]
        # The review queue: open pairs of an organization, best first.
        indexes = [models.Index(fields=["organization", "-score", "-id"], name="contact_dup_queue_idx",
                                condition=Q(status="open"))]

    @classmethod
    def visibility_q(cls, scope, action):
        """A pair is shown to whoever may see (or change) both contacts."""
        first = contact_visibility_q(scope, action, "first__")
        second = contact_visibility_q(scope, action, "second__")
        return None if first is None or second is None else first & second


class CompanyDuplicate(DuplicatePair):
    first = models.ForeignKey("companies.Company", on_delete=models.CASCADE, related_name="+", db_index=False)
    second = models.ForeignKey("companies.Company", on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["-score", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="company_duplicate_unique"),
            models.CheckConstraint(condition=Q(first__lt=F("second")), name="company_duplicate_ordered"),
        ]
        indexes = [models.Index(fields=["organization", "-score", "-id"], name="company_dup_queue_idx",
                                condition=Q(status="open"))]

    @classmethod
    def visibility_q(cls, scope, action):
        """Companies are shared in the organization: every member sees the pairs; writers act on them."""
        if action != "view" and not scope.can_write:
            return None
        return Q(first__deleted_at__isnull=True, second__deleted_at__isnull=True)


class DedupeBlock(models.Model):
    """Scratch rows of a running scan: the ids of contacts that share one blocking key."""

    job = models.ForeignKey("crm.Job", on_delete=models.CASCADE, related_name="+", db_index=False)
    members = ArrayField(models.BigIntegerField())

    class Meta:
        indexes = [models.Index(fields=["job", "id"], name="dedupe_block_job_idx")]


# -- privacy (contacts/privacy.py) -------------------------------------------------------------

class PrivacyRequest(OrgModel):
    """One subject access export or erasure asked for by an org admin: who, when, how it went.
    It names the person only by an opaque reference (the contact's id, which means nothing once
    the contact is erased) and is purged after KITH_PRIVACY_LOG_DAYS (30) days."""

    class Kind(models.TextChoices):
        EXPORT = "export", "Subject access export"
        ERASURE = "erasure", "Erasure"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    contact_id = models.BigIntegerField(help_text="Opaque reference to the subject (no foreign key: erasure "
                                                  "deletes the contact).")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey("crm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="privacy_request_org_idx"),
            models.Index(fields=["created_at"], name="privacy_request_created_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of contact #{self.contact_id}"

    @property
    def reference(self) -> str:
        return f"contact #{self.contact_id}"

    @classmethod
    def visibility_q(cls, scope, action):
        """Org admins only: the log says whose data was asked for."""
        return Q() if scope.is_admin else None


class ErasureTombstone(OrgModel):
    """What is left of an erased person: a keyed HMAC (contacts.privacy.digest) of their
    normalized email or of one E.164 phone number, no plaintext. A new contact (form, API,
    import) with a matching value is refused until someone records the person's consent, which
    lifts the tombstone (lifted_at/lifted_by/evidence)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"

    kind = models.CharField(max_length=5, choices=Kind.choices)
    digest = models.CharField(max_length=64)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    evidence = models.CharField(max_length=500, blank=True, help_text="How the consent was given.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "kind", "digest"],
                                               name="erasure_tombstone_unique")]

    def __str__(self):
        return f"{self.kind} tombstone #{self.pk}"

    @classmethod
    def visibility_q(cls, scope, action):
        return Q() if scope.is_admin else None
# ---------------------------------------------------------------------------
# Lead scoring (contacts/scoring.py): the weights of an organization, the history of each
# contact's score, and the queue of contacts whose score inputs changed.


def unique_casefolded(values) -> list[str]:
    """Non-empty values once each whatever their case, in order (the first spelling is kept)."""
    seen, result = set(), []
    for value in values:
        if value and value.casefold() not in seen:
            seen.add(value.casefold())
            result.append(value)
    return result


def _points(default, help_text=""):
    return models.FloatField(default=default, help_text=help_text, validators=[
        MinValueValidator(0, "Points cannot be negative (penalties are subtracted already)."),
        MaxValueValidator(100, "At most 100 points.")])


class ScoringModel(OrgModel):
    """An organization's lead-scoring weights (one row; an organization without one scores with
    these defaults). Every number is points, 0–100; contacts.scoring documents the rules."""

    # Demographic fit: job title seniority (keyword rules in contacts.scoring.SENIORITY_RULES).
    title_executive = _points(25, "Chief/C-level, founder, owner, president, partner.")
    title_vp = _points(20, "Vice president, VP, head of.")
    title_director = _points(15, "Director.")
    title_manager = _points(10, "Manager, lead, supervisor.")
    title_senior = _points(5, "Senior, principal, specialist with seniority.")
    # Demographic fit: the primary company's size band and industry.
    size_large = _points(15, "Primary company of 1,001 or more people.")
    size_mid = _points(10, "Primary company of 51–1,000 people.")
    size_small = _points(5, "Primary company of 1–50 people.")
    target_industries = ArrayField(models.CharField(max_length=120), default=list, blank=True,
                                   help_text="Industries you sell to (matched case-insensitively).")
    industry_match = _points(10, "The primary company's industry is one of the target industries.")
    # Behaviour: points per activity, decayed by age (half-life).
    email_opened = _points(2, "Per email opened.")
    email_clicked = _points(4, "Per email link clicked.")
    email_received = _points(8, "Per email received from the contact.")
    sms_received = _points(8, "Per SMS reply from the contact.")
    call = _points(6, "Per call.")
    meeting_scheduled = _points(5, "Per meeting scheduled.")
    meeting_held = _points(12, "Per meeting held.")
    half_life_days = models.FloatField(
        "half-life (days)", default=30, help_text="An activity this many days old counts half (at least 1 day).",
        validators=[MinValueValidator(1, "The half-life must be at least 1 day."),
                    MaxValueValidator(3650, "The half-life can be at most 3,650 days.")])
    # Negative signals.
    opt_out_penalty = _points(10, "Per channel (email, SMS, call) whose consent is revoked.")
    bounce_penalty = _points(5, "Per bounced email or failed/undelivered SMS.")

    WEIGHT_FIELDS = ("title_executive", "title_vp", "title_director", "title_manager", "title_senior",
                     "size_large", "size_mid", "size_small", "industry_match", "email_opened", "email_clicked",
                     "email_received", "sms_received", "call", "meeting_scheduled", "meeting_held",
                     "half_life_days", "opt_out_penalty", "bounce_penalty")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="scoring_model_one_per_org")]

    def __str__(self):
        return f"Scoring model of {self.organization_id}"

    def clean_fields(self, exclude=None):
        # Trimmed, and once each whatever the case (the first spelling is kept).
        values = [" ".join(str(v).split()) for v in (self.target_industries or [])]
        self.target_industries = unique_casefolded(values)
        super().clean_fields(exclude)

    @property
    def industry_keys(self) -> set[str]:
        return {v.casefold() for v in self.target_industries}

    @classmethod
    def for_organization(cls, organization_id) -> "ScoringModel":
        """The organization's model, or an unsaved one with the defaults."""
        return cls.objects.filter(organization_id=organization_id).first() or cls(organization_id=organization_id)


class ScoreHistory(OrgModel):
    """A contact's score each time it changed, with the breakdown that explains it."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="score_history", db_index=False)
    score = models.PositiveSmallIntegerField()
    previous = models.PositiveSmallIntegerField(null=True)
    breakdown = models.JSONField(default=list, help_text="[{component, label, points, why}] in order.")
    computed_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=40, help_text="What triggered the recompute (change, nightly, weights).")

    class Meta:
        verbose_name_plural = "score history"
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["contact", "-computed_at", "-id"], name="score_history_contact_idx")]

    def __str__(self):
        return f"{self.contact_id}: {self.score} ({self.reason})"

    @classmethod
    def visibility_q(cls, scope, action):
        return contact_visibility_q(scope, action, "contact__")


class ScorePending(models.Model):
    """Contacts whose score inputs changed since their score was computed: filled by triggers on
    every writer (activities, consent, title, companies, messages; see the migrations), emptied in
    batches by the worker (contacts.scoring.score_pending). No foreign key: a row for a contact
    deleted meanwhile is simply dropped."""

    contact_id = models.BigIntegerField(primary_key=True)
    organization_id = models.BigIntegerField()
    queued_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return str(self.contact_id)
