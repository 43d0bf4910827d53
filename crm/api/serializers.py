"""The base serializer of every tenant model, and the core models' serializers.

`OrgSerializer` does once what every endpoint needs:
- foreign keys in a body accept only rows the caller may see in their organization
  (another organization's id is an "Invalid pk" 400 on that field, never a write);
- a body naming a read-only or unknown field is a 400 naming it (never silently ignored);
- the organization is the caller's, never the body's;
- `?fields=a,b` renders only those fields and `?expand=owner,tags` renders related rows
  instead of ids; `optimize()` gives the list query the joins/prefetches those need, so
  the number of queries does not grow with the page size;
- writes validate with the model's full_clean() (same messages as forms and admin) in one
  transaction; serializers of models with services call those instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils.module_loading import import_string
from phonenumber_field import modelfields, serializerfields
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from crm import twofactor
from crm.models import CustomFieldDefinition, Organization, Tag, Team, User
from crm.permissions import CHANGE, VIEW, Role, Scope
from crm.querysets import OrgQuerySet

ORGANIZATION_READ_ONLY = "This field is read-only: records always belong to your organization."


def visible_choices(model, user, scope: Scope):
    """Rows a body may point at: members of the caller's organization, or rows the caller may see."""
    if model is User:
        return User.objects.filter(membership__organization_id=scope.organization_id)
    queryset = model._default_manager.all()
    if isinstance(queryset, OrgQuerySet):
        return queryset.visible_to(user, VIEW)
    return queryset.none()  # fail closed for anything without a visibility rule


class StrictInputMixin:
    """A body key that is not a writable field is an error naming it."""

    #: field name -> a more helpful message than "This field is read-only."
    write_hints: dict[str, str] = {}

    def to_internal_value(self, data):
        errors = self._unwritable_keys(data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def _unwritable_keys(self, data) -> dict[str, list[str]]:
        model = getattr(getattr(self, "Meta", None), "model", None)
        model_fields = {f.name for f in model._meta.get_fields()} if model else set()
        errors = {}
        for key in data:
            field = self.fields.get(key)
            if field is not None and not field.read_only:
                continue
            if key in self.write_hints:
                errors[key] = [self.write_hints[key]]
            elif key == "organization":
                errors[key] = [ORGANIZATION_READ_ONLY]
            elif field is not None or key in model_fields:
                errors[key] = ["This field is read-only."]
            else:
                errors[key] = ["Unknown field."]
        return errors


@dataclass(frozen=True)
class Expansion:
    """`?expand=<name>`: render the related row(s) with `serializer` (a class or a dotted
    path, to avoid import cycles between apps) and fetch them with `related`
    (select_related for one, prefetch_related for many)."""

    serializer: type | str
    related: str
    many: bool = False

    def build(self):
        serializer_class = import_string(self.serializer) if isinstance(self.serializer, str) else self.serializer
        return serializer_class(many=self.many, read_only=True)


class OrgSerializer(StrictInputMixin, serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        modelfields.PhoneNumberField: serializerfields.PhoneNumberField,
    }

    #: names accepted by ?expand=
    expandable: dict[str, Expansion] = {}
    #: many-valued fields rendered as ids, prefetched only when the field is rendered
    prefetch_fields: dict[str, str] = {}
    #: heavy columns no field shows (embeddings)
    deferred_fields: tuple[str, ...] = ()
    #: foreign keys to the row this one hangs off (a link's or an activity's contact):
    #: pointing at it needs change permission on it, as for the row itself
    parent_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        self.user = getattr(request, "user", None)
        self.scope = Scope.of(self.user) if self.user is not None else None
        self._selected = self.context.get("fields")
        self._expanded = {}
        if self.scope is None:
            return  # schema generation, or a serializer used outside a request
        for field in self.fields.values():
            relation = getattr(field, "child_relation", field)
            if isinstance(relation, serializers.RelatedField) and relation.queryset is not None:
                relation.queryset = visible_choices(relation.queryset.model, self.user, self.scope)
        for name in self.context.get("expand", ()):
            expanded = self.expandable[name].build()
            expanded.bind(name, self)
            self._expanded[name] = expanded

    @classmethod
    def readable_fields(cls) -> set[str]:
        return {name for name, field in cls().fields.items() if not field.write_only}

    @classmethod
    def optimize(cls, queryset, fields=None, expand=frozenset()):
        """The joins and prefetches the rendered fields need: one query each, whatever the page size."""
        shown = (lambda name: True) if fields is None else (lambda name: name in fields)
        if cls.deferred_fields:
            queryset = queryset.defer(*cls.deferred_fields)
        for name, expansion in cls.expandable.items():
            if name in expand and shown(name):
                queryset = (queryset.prefetch_related(expansion.related) if expansion.many
                            else queryset.select_related(expansion.related))
        for name, lookup in cls.prefetch_fields.items():
            if shown(name) and name not in expand:
                queryset = queryset.prefetch_related(lookup)
        return queryset

    @property
    def _readable_fields(self):
        # DRF renders the fields this yields: the ?fields= selection, with ?expand= substitutes.
        for name, field in self.fields.items():
            if field.write_only or (self._selected is not None and name not in self._selected):
                continue
            yield self._expanded.get(name, field)

    def build_standard_field(self, field_name, model_field):
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        # The model's own validators run in full_clean(), after the model normalizes the value
        # (a domain "https://www.x.com/" becomes "x.com"); running them here first would
        # reject what the pages accept.
        field_kwargs.pop("validators", None)
        return field_class, field_kwargs

    # Uniqueness is the model's business (validate_constraints, with its messages and the
    # organization included); DRF's generated validators would check without either.
    def get_validators(self):
        return []

    def get_uniqueness_extra_kwargs(self, field_names, declared_fields, extra_kwargs):
        return extra_kwargs, {}

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.scope is not None:
            self._check_owner(attrs)
            self._check_team(attrs)
            self._check_parents(attrs)
        return attrs

    def _check_owner(self, attrs):
        """Admins and managers assign anyone in the organization; reps only themselves
        (or nobody). A rep's new record is theirs unless they say otherwise."""
        if "owner" not in self.fields or self.scope.role in (Role.ADMIN, Role.MANAGER):
            return
        if self.instance is None and "owner" not in attrs and self.scope.role == Role.REP:
            attrs["owner"] = self.user
            return
        owner = attrs.get("owner")
        if owner is None or owner.pk == self.scope.user_id:
            return
        if self.instance is not None and owner.pk == self.instance.owner_id:
            return  # unchanged
        raise serializers.ValidationError({"owner": ["Sales reps can assign only themselves as owner (or nobody)."]})

    def _check_team(self, attrs):
        """Reps put records in their own team (or none); admins and managers in any team."""
        field = self.fields.get("team")
        if field is None or field.read_only or self.scope.role != Role.REP:
            return
        team = attrs.get("team")
        if team is None or team.pk in self.scope.team_ids:
            return
        if self.instance is not None and team.pk == getattr(self.instance, "team_id", None):
            return  # unchanged
        raise serializers.ValidationError({"team": ["Sales reps can put records only in their own team (or none)."]})

    def _check_parents(self, attrs):
        for name in self.parent_fields:
            parent = attrs.get(name)
            if parent is None:
                continue
            if self.instance is not None and getattr(self.instance, f"{name}_id") == parent.pk:
                continue  # the row's own change permission was checked when it was fetched
            if not type(parent)._default_manager.visible_to(self.user, CHANGE).filter(pk=parent.pk).exists():
                # Visible (the field only accepts visible rows), so 403 leaks nothing.
                raise PermissionDenied(f"You may view this {parent._meta.verbose_name} but not change it.")

    @cached_property
    def organization(self) -> Organization:
        return Organization.objects.get(pk=self.scope.organization_id)

    def save(self, **kwargs):
        # Services raise Django's ValidationError; crm.api.exceptions turns it into a 400.
        with transaction.atomic():
            return super().save(**kwargs)

    def create(self, validated_data):
        instance = self.Meta.model(organization_id=self.scope.organization_id)
        if hasattr(instance, "created_by_id"):
            instance.created_by = self.user
        return self.save_instance(instance, validated_data)

    def update(self, instance, validated_data):
        return self.save_instance(instance, validated_data)

    def save_instance(self, instance, data):
        for name, value in data.items():
            setattr(instance, name, value)
        instance.full_clean()
        instance.save()
        return instance


# Summaries rendered by ?expand=


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name"]


class TeamSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]


class TagSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "colour"]


# Core models


class TagSerializer(OrgSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "colour", "description", "usage_count", "created_at", "updated_at"]


class CustomFieldDefinitionSerializer(OrgSerializer):
    class Meta:
        model = CustomFieldDefinition
        fields = ["id", "model", "key", "label", "field_type", "required", "sensitive", "options", "help_text",
                  "position", "created_at", "updated_at"]


class TokenRequestSerializer(StrictInputMixin, serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    totp = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=20,
        help_text="The current code of the authenticator app (or a recovery code), for accounts with "
                  "two-factor sign-in.")

    def validate(self, attrs):
        # The user model signs in by email (USERNAME_FIELD); inactive users are refused by the backend.
        # Django's own request (not DRF's wrapper), so a lockout django-axes flags on it is answered
        # by its middleware (429, crm.lockout).
        request = self.context.get("request")
        user = authenticate(getattr(request, "_request", request), email=attrs["email"], password=attrs["password"])
        if user is None:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to sign in with this email and password."]}, code="authorization")
        if user.has_two_factor:
            if not attrs.get("totp"):
                raise serializers.ValidationError(
                    {"totp": ["This account uses two-factor sign-in: give the current code from the authenticator "
                              "app (or a recovery code) as totp."]}, code="required")
            if not twofactor.verify(user, attrs["totp"]):
                twofactor.count_failure(request, user)
                raise serializers.ValidationError({"totp": [twofactor.WRONG_CODE]}, code="authorization")
        elif twofactor.required_for(user):
            raise PermissionDenied(twofactor.ENROL_FIRST)
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
