"""The base viewset of every tenant model, and the core's endpoints (tags, custom fields, tokens).

`OrgViewSet` is the API's side of the visibility contract (DESIGN.md, "Tenancy and
permissions"): every row comes through `Model.objects.visible_to(user, action)`; a row
outside "view" answers 404, a visible row the caller may not change or delete answers 403.
It also owns the list conventions: strict query parameters, FilterSets, keyset pages.
"""

from __future__ import annotations

from django.db.models import Model
from django_filters import utils as filter_utils
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from crm.api.pagination import KeysetPagination
from crm.api.serializers import (
    CustomFieldDefinitionSerializer, TagSerializer, TokenRequestSerializer, TokenSerializer,
)
from crm.filters import CustomFieldDefinitionFilter, TagFilter
from crm.models import CustomFieldDefinition, Tag
from crm.pages import get_visible_or_404
from crm.pagination import SortKey
from crm.permissions import CHANGE, DELETE, VIEW, Scope

# Query parameters every endpoint understands; lists add the pagination ones and their filters.
COMMON_PARAMS = frozenset({"format"})
REPRESENTATION_PARAMS = frozenset({"fields", "expand"})
LIST_PARAMS = frozenset({"cursor", "page_size", "ordering"})


def check_query_params(request, allowed) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
    reject_null_characters(request)


def reject_null_characters(request) -> None:
    # PostgreSQL text cannot hold NUL: a 400 naming the parameter, not a database error.
    bad = sorted({name for name, values in request.query_params.lists() for value in values if "\x00" in value})
    if bad:
        raise ValidationError({name: ["Null characters are not allowed."] for name in bad})


def names_param(request, param: str, allowed) -> set[str] | None:
    """`?fields=a,b` (or repeated) -> {"a", "b"}; None when absent; unknown names are a 400."""
    values = request.query_params.getlist(param)
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    if not names:
        return None
    unknown = sorted(names - set(allowed))
    if unknown:
        raise ValidationError({param: [f"Unknown name(s): {', '.join(unknown)}. "
                                       f"Choose from: {', '.join(sorted(allowed)) or 'none'}."]})
    return names


class IsOrganizationMember(BasePermission):
    """Signed in with a membership; creating needs a role that may change some row of the model."""

    message = "Your account does not belong to an organization."

    def has_permission(self, request, view):
        scope = Scope.of(request.user)
        if scope is None:
            return False
        if view.action == "create" and view.model.visibility_q(scope, CHANGE) is None:
            raise PermissionDenied(f"Your role cannot create {view.model._meta.verbose_name_plural}.")
        return True


class IsOrganizationAdmin(BasePermission):
    """Org admins only (403 for everyone else); the view names what they manage in
    `admin_manages`, e.g. "webhooks"."""

    def has_permission(self, request, view):
        scope = Scope.of(request.user)
        if scope is None:
            raise PermissionDenied("Your account does not belong to an organization.")
        if not scope.is_admin:
            raise PermissionDenied(f"Only organization admins manage {getattr(view, 'admin_manages', 'this')}.")
        return True


class OrgFilterBackend(DjangoFilterBackend):
    """The view's FilterSet (shared with the pages), with every query parameter accounted for:
    unknown ones and invalid values are a 400 naming the parameter."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        filters = set(filterset.filters) if filterset is not None else set()
        check_query_params(request, view.allowed_query_params() | LIST_PARAMS | filters)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        return filterset.qs


class OrgAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        view = self.view
        if self.method == "GET" and getattr(view, "renders_model", lambda: False)():
            serializer_class = type(view).serializer_class
            parameters.append(OpenApiParameter(
                "fields", str, description="Comma-separated fields to render (default: all)."))
            if serializer_class.expandable:
                parameters.append(OpenApiParameter(
                    "expand", str, description="Comma-separated related objects to render in full instead of "
                                               f"ids: {', '.join(serializer_class.expandable)}."))
        return parameters


class OrgReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """Subclasses name `queryset` (all the model's rows: the gate narrows them per request),
    `serializer_class` (an OrgSerializer), `filterset_class` and their sorts. Read-only
    (list, retrieve and custom actions); OrgViewSet adds create, update and delete."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]
    filter_backends = [OrgFilterBackend]
    pagination_class = KeysetPagination
    schema = OrgAutoSchema()

    #: ?ordering= values -> sort keys (each backed by an index that leads with organization)
    orderings: dict[str, SortKey] = {"-created": SortKey("created_at", True), "created": SortKey("created_at")}
    default_ordering = "-created"

    #: what a custom @action does to its object (view, change or delete); set through @action(...)
    permission_action: str | None = None
    ACTION_PERMISSIONS = {"update": CHANGE, "partial_update": CHANGE, "destroy": DELETE}

    @property
    def model(self) -> type[Model]:
        return self.queryset.model

    # The gate

    def rows(self):
        """This endpoint's rows before the visibility gate."""
        return self.queryset.all()

    def get_queryset(self):
        rows = self.rows()
        if self.action in ("list", "retrieve"):
            rows = type(self).serializer_class.optimize(rows, **getattr(self, "representation", {}))
        return rows.visible_to(self.request.user, VIEW)

    def get_object(self):
        """The row in the URL: 404 outside the caller's view (the same answer as "does not
        exist"), 403 when visible but the action (change, delete) is not theirs. One query."""
        action = self.permission_action or self.ACTION_PERMISSIONS.get(self.action, VIEW)
        rows = self.rows()
        if self.action == "retrieve":
            rows = type(self).serializer_class.optimize(rows, **self.representation)
        return get_visible_or_404(self.request.user, rows, self.kwargs[self.lookup_url_kwarg or self.lookup_field],
                                  action, perms=())

    # Query parameters, ?fields= and ?expand=

    def renders_model(self) -> bool:
        return self.get_serializer_class() is type(self).serializer_class

    def allowed_query_params(self) -> frozenset[str]:
        return COMMON_PARAMS | (REPRESENTATION_PARAMS if self.renders_model() else frozenset())

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action != "list":  # lists are checked by OrgFilterBackend, which knows the filter names
            check_query_params(request, self.allowed_query_params())
        self.representation = {"fields": None, "expand": frozenset()}
        if self.renders_model():
            serializer_class = type(self).serializer_class
            self.representation = {
                "fields": names_param(request, "fields", serializer_class.readable_fields()),
                "expand": frozenset(names_param(request, "expand", serializer_class.expandable) or ()),
            }

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context.update(getattr(self, "representation", {}))
        return context

    # Sorting (read by KeysetPagination)

    def get_sort(self) -> tuple[str, SortKey]:
        """The ?ordering= value and its sort key (the id breaks ties); unknown sorts are a 400."""
        value = self.request.query_params.get("ordering") or self.default_ordering
        if value not in self.orderings:
            raise ValidationError({"ordering": [
                f"Unknown sort {value!r}; use one of {', '.join(self.orderings)}."]})
        return value, self.orderings[value]


class OrgViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, OrgReadOnlyViewSet):
    def perform_destroy(self, instance):
        instance.delete()


class TrashMixin:
    """For viewsets of models with a trash (crm.models.SoftDeleteMixin): DELETE moves the row
    there through `trash_service`; POST …/restore/ brings it back through `restore_service`."""

    trash_service = None
    restore_service = None

    def rows(self):
        # Restoring reaches into the trash, which the default manager hides.
        model = self.queryset.model
        return model.all_objects.all() if self.action == "restore" else model.objects.all()

    def perform_destroy(self, instance):
        type(self).trash_service(instance)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], permission_action=DELETE)
    def restore(self, request, pk=None):
        """Bring a row back from the trash. Fails naming the field when a live row took one of
        its unique values meanwhile (a contact's `email`, a company's `domain`)."""
        obj = self.get_object()
        if obj.deleted_at is not None:
            type(self).restore_service(obj)
        return Response(self.get_serializer(obj).data)


def sorts(**fields: str) -> dict[str, SortKey]:
    """sorts(name="name") -> {"name": ascending by name, "-name": descending}."""
    return {f"{prefix}{name}": SortKey(field, descending=bool(prefix))
            for name, field in fields.items() for prefix in ("", "-")}


class TagViewSet(OrgViewSet):
    """Tags of the organization: every member reads them, org admins manage them."""

    queryset = Tag.objects.all()
    serializer_class = TagSerializer
    filterset_class = TagFilter
    orderings = sorts(name="name", created="created_at", usage="usage_count")
    default_ordering = "name"


class CustomFieldDefinitionViewSet(OrgViewSet):
    """Custom-field definitions of the organization: every member reads them, org admins manage them."""

    queryset = CustomFieldDefinition.objects.all()
    serializer_class = CustomFieldDefinitionSerializer
    filterset_class = CustomFieldDefinitionFilter
    orderings = sorts(position="position", created="created_at")
    default_ordering = "position"


class TokenView(APIView):
    """Exchange email and password for an API token (sent as `Authorization: Token <key>`)."""

    authentication_classes: list = []  # credentials are in the body; no session, no CSRF
    permission_classes = [AllowAny]
    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenSerializer}, auth=[])
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response(TokenSerializer({"token": token.key}).data, status=status.HTTP_200_OK)
