"""Cross-cutting core: users, organizations, teams, memberships, tags, custom fields."""

from __future__ import annotations

import uuid

import pghistory
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify
from encrypted_fields.fields import EncryptedCharField

from crm.permissions import Role, organization_wide_q
from crm.querysets import OrgQuerySet


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def normalize_email(self, email):
        return (email or "").strip().lower()

    def get_by_natural_key(self, username):
        # Emails are stored normalized (lowercase), so the unique index serves this.
        return self.get(email=self.normalize_email(username))

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with email and password."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    # Two-factor sign-in (crm.twofactor): the TOTP secret, encrypted at rest; on once confirmed.
    totp_secret = EncryptedCharField(max_length=64, blank=True, null=True, editable=False)
    totp_confirmed_at = models.DateTimeField("two-factor sign-in since", null=True, blank=True, editable=False)
    # The time step of the last code accepted: a code is good once (no replay).
    totp_last_step = models.BigIntegerField(null=True, blank=True, editable=False)
    # One-time recovery codes, hashed like passwords; a used one is removed.
    totp_recovery_codes = models.JSONField(default=list, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    @property
    def has_two_factor(self) -> bool:
        return self.totp_confirmed_at is not None and bool(self.totp_secret)

    class Meta:
        ordering = ["email"]
        constraints = [models.CheckConstraint(condition=Q(email=Lower("email")), name="user_email_lowercase")]

    def clean(self):
        super().clean()
        self.email = User.objects.normalize_email(self.email)

    def __str__(self):
        return self.full_name or self.email

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return (self.full_name or self.email).split(" ")[0]

    @property
    def organization(self):
        membership = getattr(self, "membership", None)
        return membership.organization if membership else None


class Organization(models.Model):
    """The tenant: nothing crosses organizations."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Data retention (contacts.privacy.purge_trash): contacts in the trash this many days are
    # erased for good (the same scrub as a GDPR erasure, without a tombstone).
    trash_retention_days = models.PositiveSmallIntegerField(
        "days in the trash before deleted contacts are purged", default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)])
    # Contact phones encrypted at rest, found by exact number only (contacts.phones).
    encrypt_phone_numbers = models.BooleanField(
        default=False, help_text="Store contact phone and mobile numbers encrypted. They are then found by the "
                                 "exact number only, not by part of it.")

    # Members must sign in with a second factor; those without one are sent to enrol (crm.twofactor).
    require_two_factor = models.BooleanField(
        "require two-factor sign-in", default=False,
        help_text="Every member signs in with a code from an authenticator app. Members who have not set it "
                  "up are asked to before they can use Kith.")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            base = slugify(self.name)[:50] or "org"
            slug, n = base, 1
            while Organization.objects.filter(slug=slug).exclude(pk=self.pk).exists():
                n += 1
                slug = f"{base}-{n}"
            self.slug = slug
        super().save(*args, **kwargs)


class OrgModel(models.Model):
    """Base of every tenant row: organization, timestamps, the visibility gate."""

    # Indexed through each model's own composite indexes and constraints that lead
    # with organization, not through a standalone index per table.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgQuerySet.as_manager()

    class Meta:
        abstract = True

    # Constraint violation code -> the field the error is reported on (Django reports
    # conditional unique constraints as non-field errors otherwise).
    constraint_error_fields: dict[str, str] = {}

    @classmethod
    def visibility_q(cls, scope, action):
        return organization_wide_q(scope, action)

    def validate_constraints(self, exclude=None):
        # Forms leave out the organization and non-editable fields (deleted_at …), but
        # their values on the instance are set by our code, so the per-organization and
        # conditional unique constraints must still be checked with them.
        if exclude:
            exclude = set(exclude) - {"organization"} - {
                f.name for f in self._meta.concrete_fields if not f.editable}
        try:
            super().validate_constraints(exclude)
        except ValidationError as exc:
            errors: dict[str, list] = {}
            for field, field_errors in exc.error_dict.items():
                for error in field_errors:
                    target = self.constraint_error_fields.get(error.code, field) if field == "__all__" else field
                    errors.setdefault(target, []).append(error)
            raise ValidationError(errors) from None

    def _check_same_organization(self, **related):
        """Errors for related rows that belong to another organization (named by field)."""
        errors = {}
        for field, obj in related.items():
            if obj is not None and self.organization_id and obj.organization_id != self.organization_id:
                errors[field] = "Choose one from your organization."
        if errors:
            raise ValidationError(errors)


class EmbeddedMixin:
    """A model with an `embedding` that only the embedding worker writes (contacts.semantic):
    saves of an existing row leave the column alone (an instance read before the worker ran
    would write its stale copy back), and a save that may change the text it is made of
    (`EMBEDDING_FIELDS`; a trigger then clears the embedding) asks the worker to re-embed."""

    EMBEDDING_FIELDS: tuple[str, ...] = ()

    def save(self, *args, **kwargs):
        requested = kwargs.get("update_fields")
        if not self._state.adding and requested is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [field.name for field in self._meta.concrete_fields
                                       if not field.primary_key and not field.generated
                                       and field.name != "embedding"]
        super().save(*args, **kwargs)
        if requested is None or set(requested) & set(self.EMBEDDING_FIELDS):
            from contacts.semantic import schedule

            schedule()


class SoftDeleteMixin:
    """Methods of a model with a trash (its own `deleted_at` column, `objects` = LiveManager,
    `all_objects` = SoftDeleteQuerySet.as_manager()). Services wrap these with what else
    moves with the row (tag counts, cached names)."""

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def soft_delete(self):
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])

    def restore(self):
        """Back from the trash; a unique value a live row took meanwhile fails on its field
        (ValidationError), and the row stays in the trash. A row merged into another one comes
        back only by undoing the merge (which also gives back what moved to the survivor)."""
        if getattr(self, "merged_into_id", None):
            raise ValidationError({"merged_into": f"This record was merged into #{self.merged_into_id}: undo the "
                                                  f"merge to get it back."})
        deleted_at, self.deleted_at = self.deleted_at, None
        try:
            self.full_clean(validate_unique=False, exclude=["custom_fields"])
            self.validate_constraints()
        except ValidationError:
            self.deleted_at = deleted_at
            raise
        self.save(update_fields=["deleted_at", "updated_at"])


class Team(OrgModel):
    constraint_error_fields = {"duplicate_name": "name"}

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("name"), name="team_name_unique_per_org", violation_error_code="duplicate_name",
                violation_error_message="A team with this name already exists in your organization.",
            )
        ]

    def __str__(self):
        return self.name


def validate_timezone_name(value: str) -> None:
    """An IANA time zone name such as Europe/Berlin (or empty)."""
    import zoneinfo

    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a time zone; use a name such as America/New_York.",
                              code="invalid") from None


# When the last digest went out is bookkeeping, not a change of the membership: not audited.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=["last_digest_at"], exclude_auto=True)),
    pghistory.DeleteEvent(), exclude=["last_digest_at"],
)
class Membership(OrgModel):
    """A user's place in exactly one organization: role and team."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.CHOICES, default=Role.REP)
    # Personal preferences: the time zone "today" and "overdue" are reckoned in (empty: the
    # site's TIME_ZONE), and the daily email digest of tasks and notifications.
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone_name])
    email_digest = models.BooleanField("daily email digest", default=False)
    last_digest_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["organization", "team"])]

    def zone(self):
        """The member's time zone as a tzinfo."""
        import zoneinfo

        from django.conf import settings

        try:
            return zoneinfo.ZoneInfo(self.timezone or settings.TIME_ZONE)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(settings.TIME_ZONE)

    def __str__(self):
        return f"{self.user} — {self.get_role_display()} at {self.organization}"

    def clean(self):
        super().clean()
        self._check_same_organization(team=self.team)


TAG_COLOURS = [
    ("gray", "Gray"), ("red", "Red"), ("orange", "Orange"), ("amber", "Amber"), ("yellow", "Yellow"),
    ("lime", "Lime"), ("green", "Green"), ("teal", "Teal"), ("cyan", "Cyan"), ("blue", "Blue"),
    ("indigo", "Indigo"), ("violet", "Violet"), ("purple", "Purple"), ("pink", "Pink"),
]


@pghistory.track(
    pghistory.InsertEvent(), # A usage recount is not an edit of the tag: not audited.
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=["usage_count"], exclude_auto=True)),
    pghistory.DeleteEvent(), exclude=["usage_count"],
)
class Tag(OrgModel):
    constraint_error_fields = {"duplicate_name": "name"}

    name = models.CharField(max_length=80)
    colour = models.CharField(max_length=16, choices=TAG_COLOURS, default="gray")
    description = models.CharField(max_length=500, blank=True)
    # Cached number of contacts carrying the tag; kept by services and recounted by a task.
    usage_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("name"), name="tag_name_unique_per_org", violation_error_code="duplicate_name",
                violation_error_message="A tag with this name already exists in your organization.",
            )
        ]

    def __str__(self):
        return self.name


class CustomFieldDefinition(OrgModel):
    class Model(models.TextChoices):
        CONTACT = "contact", "Contact"
        COMPANY = "company", "Company"

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        TEXTAREA = "textarea", "Long text"
        NUMBER = "number", "Number"
        CURRENCY = "currency", "Currency"
        DATE = "date", "Date"
        DATETIME = "datetime", "Date and time"
        BOOLEAN = "boolean", "Yes/no"
        SELECT = "select", "Single choice"
        MULTISELECT = "multiselect", "Multiple choice"
        URL = "url", "URL"
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"

    constraint_error_fields = {"duplicate_key": "key"}

    model = models.CharField(max_length=16, choices=Model.choices)
    key = models.CharField(
        max_length=60,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", "Use lowercase letters, digits and underscores, "
                                   "starting with a letter.")],
        help_text="Stored name of the field, e.g. insurance_provider.",
    )
    label = models.CharField(max_length=120)
    field_type = models.CharField(max_length=16, choices=Type.choices)
    required = models.BooleanField(default=False)
    options = ArrayField(models.CharField(max_length=120), default=list, blank=True,
                         help_text="Choices for single and multiple choice fields.")
    help_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    sensitive = models.BooleanField(
        default=False, help_text="Values are encrypted at rest and kept out of search, filters and the embedding. "
                                 "Changing this moves the stored values in the background.")

    class Meta:
        ordering = ["model", "position", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "model", "key"], name="custom_field_key_unique_per_org",
                violation_error_code="duplicate_key", violation_error_message="A custom field with this key already exists for this model.",
            )
        ]

    def __str__(self):
        return f"{self.label} ({self.get_model_display()})"

    def save(self, *args, **kwargs):
        # Marking a field sensitive (or no longer) moves its stored values in a job (contacts.reseal).
        was = None
        if self.pk is not None:
            was = CustomFieldDefinition.objects.filter(pk=self.pk).values_list("sensitive", flat=True).first()
        super().save(*args, **kwargs)
        if was is not None and was != self.sensitive:
            from contacts import reseal

            reseal.start_sensitivity_move(self)

    def clean(self):
        super().clean()
        choice_types = {self.Type.SELECT, self.Type.MULTISELECT}
        if self.field_type in choice_types and not self.options:
            raise ValidationError({"options": "Choice fields need at least one option."})
        if self.field_type not in choice_types and self.options:
            raise ValidationError({"options": "Only single and multiple choice fields take options."})
        if len(set(self.options)) != len(self.options):
            raise ValidationError({"options": "Options must be unique."})


class Job(OrgModel):
    """A long-running operation (bulk action, import, export, bulk SMS, merge …) whose state lives
    here, not in a worker's memory (DESIGN.md, "Processes"): the runner works in batches, each
    committed together with the `checkpoint` it reached and a fresh `heartbeat_at`, so a killed
    worker's job is re-queued by the sweeper (crm.jobs.requeue_stale_jobs) and resumes from its
    checkpoint without doing anything twice. `kind` says what it does and `params` hold its
    input; `task` is the Celery task that runs it (by name, so the core knows no app's tasks)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        UNDOING = "undoing", "Being undone"
        UNDONE = "undone", "Undone"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(max_length=40)
    task = models.CharField(max_length=150, help_text="Celery task that runs (and resumes) the job.")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    actor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="jobs")
    # The job this one reverts (an undo is a job of its own, audited like any other).
    undoes = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by")
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Rows to process, once known.")
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    checkpoint = models.JSONField(default=dict, blank=True, help_text="Where the next batch starts.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times the job was started or re-queued.")
    heartbeat_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "kind", "-created_at", "-id"], name="job_org_kind_created_idx"),
            # The sweeper's scan: only unfinished jobs are in this index.
            models.Index(fields=["heartbeat_at"], name="job_active_heartbeat_idx",
                         condition=Q(status__in=["queued", "running"])),
        ]

    def __str__(self):
        return f"{self.kind} #{self.pk} ({self.status})"

    @classmethod
    def visibility_q(cls, scope, action):
        """An operation is seen by the person who ran it and by org admins."""
        from crm.permissions import own_or_admin_q

        return own_or_admin_q(scope, action, "actor")

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def progress(self) -> int:
        """Per cent done (0–100)."""
        if self.status in (self.Status.DONE, self.Status.UNDOING, self.Status.UNDONE):
            return 100
        if not self.total:
            return 0
        return min(100, self.processed * 100 // self.total)


class JobItem(models.Model):
    """The outcome of one row of a job: what happened to it, why not (field and message), and
    the values before and after, which an undo restores."""

    class Outcome(models.TextChoices):
        CHANGED = "changed", "Changed"
        UNCHANGED = "unchanged", "Already so"
        NOT_FOUND = "not_found", "Not found"
        FORBIDDEN = "forbidden", "Not allowed"
        INVALID = "invalid", "Invalid"
        CONFLICT = "conflict", "Changed since"
        SKIPPED = "skipped", "Skipped"  # left out on purpose, e.g. a contact that cannot be texted

    ERRORS = (Outcome.NOT_FOUND, Outcome.FORBIDDEN, Outcome.INVALID, Outcome.CONFLICT, Outcome.SKIPPED)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="items", db_index=False)
    object_id = models.BigIntegerField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    field = models.CharField(max_length=100, blank=True)
    message = models.CharField(max_length=500, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["job", "outcome", "id"], name="jobitem_job_outcome_idx")]

    def __str__(self):
        return f"#{self.object_id}: {self.outcome}"

    @property
    def is_error(self) -> bool:
        return self.outcome in self.ERRORS


# Outbound webhooks (crm/webhooks.py). Events are written by database triggers (migration
# 0007_webhooks) so every writer is covered; deliveries are sent by Celery.

WEBHOOK_EVENT_TYPES = (
    "contact.created", "contact.updated", "contact.deleted", "contact.merged", "contact.restored",
    "company.created", "company.updated", "company.deleted", "company.merged", "company.restored",
    "activity.created", "activity.updated", "activity.deleted",
)


def webhook_admin_q(scope, action):
    # Endpoints, their events and their delivery log are the org admins' business only:
    # everybody else sees none of them (pages answer 404).
    return Q() if scope.is_admin else None


class WebhookEndpoint(OrgModel):
    """A URL of the organization's that receives signed event notifications."""

    url = models.URLField("URL", max_length=2000, validators=[])
    description = models.CharField(max_length=200, blank=True)
    # Encrypted at rest (Fernet, key derived from SECRET_KEY and SALT_KEY), like the Twilio token.
    secret = EncryptedCharField(max_length=100, editable=False)
    event_types = ArrayField(models.CharField(max_length=40, choices=[(t, t) for t in WEBHOOK_EVENT_TYPES]),
                             default=list)
    is_active = models.BooleanField("active", default=True)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The triggers' lookup on every tracked write: "has this organization an active endpoint?"
            models.Index(fields=["organization", "is_active"], name="webhook_endpoint_org_active"),
            models.Index(fields=["organization", "-created_at", "-id"], name="webhook_endpoint_list"),
        ]

    def __str__(self):
        return self.description or self.url

    @classmethod
    def visibility_q(cls, scope, action):
        return webhook_admin_q(scope, action)


class WebhookEvent(models.Model):
    """One change of a contact, company or activity, kept for delivery (the outbox).

    `payload` = {"object": the row after the change (id only for a hard delete),
    "changes": {column: {"old": …, "new": …}} for updates, "context": {"source", "user"}}."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40)
    object_type = models.CharField(max_length=20)
    object_id = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Erasure finds a person's events by object.
            models.Index(fields=["object_type", "object_id"], name="webhook_event_object"),
            # The retention purge (crm.webhooks.purge_old_events) walks events by age.
            models.Index(fields=["created_at"], name="webhook_event_created"),
        ]

    def __str__(self):
        return f"{self.type} {self.object_type} #{self.object_id}"


class WebhookDelivery(OrgModel):
    """One event to one endpoint: its attempts and the last answer (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries",
                                 db_index=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    manual = models.BooleanField(default=False, help_text="Sent again by hand (redeliver, test event).")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due",
                         condition=Q(status="pending")),
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_delivery_log"),
        ]

    def __str__(self):
        return f"{self.event} → {self.endpoint_id}: {self.status}"

    @classmethod
    def visibility_q(cls, scope, action):
        return webhook_admin_q(scope, action)
