"""API of the service structure: services, components, component types, relation types and
relations. Nodes are addressed by reference, types by slug; writes go through the verbs."""

from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema, Status

from itline.cmdb import services
from itline.cmdb.choices import ComponentStatus, Criticality, Lifecycle, ServiceKind
from itline.cmdb.filters import attribute_q
from itline.cmdb.models import Component, ComponentType, Node, Relation, RelationType, Service
from itline.core.api import ERRORS, page_of
from itline.core.crud import Crud, resolve_ref
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.org.models import Customer, Function, Person

router = Router()


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


def _viewable(user: Any, perm: str, qs: Any) -> Any:
    if user is not None and not user.has_perm(perm):
        return qs.none()
    return qs


def _by_slug(model: Any, slug: str | None, field: str) -> Any:
    if slug is None:
        return None
    obj = model.objects.filter(slug=slug).first()
    if obj is None:
        known = ", ".join(model.objects.values_list("slug", flat=True)[:30])
        raise ValidationError(
            {field: f"Unknown {model._meta.verbose_name} {slug!r}; known: {known}."}
        )
    return obj


# --- component types and relation types ---------------------------------------------------


class ComponentTypeOut(Schema):
    slug: str
    name: str
    description: str
    attribute_schema: dict[str, Any]


class ComponentTypeIn(Schema):
    slug: str = Field(..., min_length=1, max_length=50, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=100)
    description: str = ""
    attribute_schema: dict[str, Any] = {}


class ComponentTypePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = None
    attribute_schema: dict[str, Any] | None = None


class RelationTypeOut(Schema):
    slug: str
    name: str
    inverse_name: str
    propagates_impact: bool
    description: str


class RelationTypeIn(Schema):
    slug: str = Field(..., min_length=1, max_length=50, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=100)
    inverse_name: str = Field(..., min_length=1, max_length=100)
    propagates_impact: bool = True
    description: str = ""


class RelationTypePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    inverse_name: str | None = Field(None, min_length=1, max_length=100)
    propagates_impact: bool | None = None
    description: str | None = None


def _type_endpoints(
    path: str,
    model: Any,
    out: Any,
    create_in: Any,
    patch_in: Any,
    create: Any,
    update: Any,
    tag: str,
) -> None:
    op = path.replace("-", "_")

    @router.get(
        f"/{path}",
        response={200: list[out], **ERRORS},
        tags=[tag],
        summary=f"List {tag.lower()}",
        operation_id=f"list_{op}",
    )
    def list_types(request: HttpRequest) -> Any:
        return list(
            _viewable(request.user, f"cmdb.view_{model._meta.model_name}", model.objects.all())
        )

    @router.get(
        f"/{path}/{{slug}}",
        response={200: out, **ERRORS},
        tags=[tag],
        summary="Read one",
        operation_id=f"get_{op}",
    )
    def read_type(request: HttpRequest, slug: str) -> Any:
        qs = _viewable(request.user, f"cmdb.view_{model._meta.model_name}", model.objects.all())
        return get_object_or_404(qs, slug=slug)

    @router.post(
        f"/{path}",
        response={201: out, **ERRORS},
        tags=[tag],
        summary="Create",
        operation_id=f"create_{op}",
    )
    def create_type(request: HttpRequest, payload: create_in) -> Any:  # type: ignore[valid-type]
        return Status(201, create(by=request.user, **payload.model_dump()))  # type: ignore[attr-defined]

    @router.patch(
        f"/{path}/{{slug}}",
        response={200: out, **ERRORS},
        tags=[tag],
        summary="Change",
        operation_id=f"update_{op}",
    )
    def update_type(request: HttpRequest, slug: str, payload: patch_in) -> Any:  # type: ignore[valid-type]
        obj = get_object_or_404(model, slug=slug)
        data = payload.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        if not data:
            raise DomainError("Send at least one field to change.", field="request")
        return update(obj, by=request.user, **data)


_type_endpoints(
    "component-types",
    ComponentType,
    ComponentTypeOut,
    ComponentTypeIn,
    ComponentTypePatch,
    services.create_component_type,
    services.update_component_type,
    "Component types",
)
_type_endpoints(
    "relation-types",
    RelationType,
    RelationTypeOut,
    RelationTypeIn,
    RelationTypePatch,
    services.create_relation_type,
    services.update_relation_type,
    "Relation types",
)


# --- services -------------------------------------------------------------------------------


class NodeOut(Schema):
    reference: str
    name: str
    description: str
    owner_function: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_owner_function(obj: Node) -> str | None:
        return _ref(obj.owner_function)


class ServiceOut(NodeOut):
    service_kind: ServiceKind
    lifecycle: Lifecycle
    criticality: Criticality
    service_owner: str | None
    delivery_manager: str | None
    customers: list[str]
    cost_centre: str
    catalogue_visible: bool

    @staticmethod
    def resolve_service_owner(obj: Service) -> str | None:
        return _ref(obj.service_owner)

    @staticmethod
    def resolve_delivery_manager(obj: Service) -> str | None:
        return _ref(obj.delivery_manager)

    @staticmethod
    def resolve_customers(obj: Service) -> list[str]:
        return sorted(c.reference for c in obj.customers.all())


class ServiceIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    owner_function: str | None = Field(None, description="Reference of the owning function")
    service_kind: ServiceKind = ServiceKind.IT_SERVICE
    lifecycle: Lifecycle = Lifecycle.PROPOSED
    criticality: Criticality = Criticality.MEDIUM
    service_owner: str | None = None
    delivery_manager: str | None = None
    customers: list[str] = Field([], description="Customer references")
    cost_centre: str = Field("", max_length=40)
    catalogue_visible: bool = False


class ServicePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    owner_function: str | None = None
    service_kind: ServiceKind | None = None
    lifecycle: Lifecycle | None = None
    criticality: Criticality | None = None
    service_owner: str | None = None
    delivery_manager: str | None = None
    customers: list[str] | None = None
    cost_centre: str | None = Field(None, max_length=40)
    catalogue_visible: bool | None = None


class ServiceFilters(FilterSchema):
    service_kind: ServiceKind | None = None
    lifecycle: Lifecycle | None = None
    owner: Annotated[str | None, FilterLookup("owner_function__reference")] = None
    customer: Annotated[str | None, FilterLookup("customers__reference")] = None
    min_criticality: Annotated[int | None, FilterLookup("criticality__gte")] = None


def _customers(refs: list[str] | None) -> list[Customer] | None:
    if refs is None:
        return None
    return [resolve_ref(Customer, ref, "customers", required=True) for ref in refs]


def _create_service(*, by: Any, customers: list[str] | None = None, **fields: Any) -> Service:
    return services.create_service(by=by, customers=_customers(customers) or [], **fields)


def _update_service(
    obj: Service, *, by: Any, customers: list[str] | None = None, **fields: Any
) -> Service:
    return services.update_service(obj, by=by, customers=_customers(customers), **fields)


def services_for(user: Any) -> Any:
    qs = Service.objects.select_related("owner_function", "service_owner", "delivery_manager")
    return _viewable(user, "cmdb.view_service", qs.prefetch_related("customers"))


Crud(
    path="services",
    model=Service,
    out=ServiceOut,
    create_in=ServiceIn,
    patch_in=ServicePatch,
    filters=ServiceFilters,
    queryset_for=services_for,
    create=_create_service,
    update=_update_service,
    search_fields=("name", "reference", "description"),
    refs={"owner_function": Function, "service_owner": Person, "delivery_manager": Person},
).register(router)


# --- components -----------------------------------------------------------------------------


class ComponentOut(NodeOut):
    component_type: str
    status: ComponentStatus
    location: str
    tags: list[str]
    attributes: dict[str, Any]

    @staticmethod
    def resolve_component_type(obj: Component) -> str:
        return obj.component_type.slug

    @staticmethod
    def resolve_tags(obj: Component) -> list[str]:
        return sorted(t.name for t in obj.tags.all())


class ComponentIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    component_type: str = Field(..., description="Slug of the component type, e.g. server")
    description: str = ""
    owner_function: str | None = None
    status: ComponentStatus = ComponentStatus.IN_USE
    location: str = Field("", max_length=120)
    tags: list[str] = []
    attributes: dict[str, Any] = {}


class ComponentPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    component_type: str | None = None
    description: str | None = None
    owner_function: str | None = None
    status: ComponentStatus | None = None
    location: str | None = Field(None, max_length=120)
    tags: list[str] | None = None
    attributes: dict[str, Any] | None = None


class ComponentFilters(FilterSchema):
    type: Annotated[str | None, FilterLookup("component_type__slug")] = None
    status: ComponentStatus | None = None
    owner: Annotated[str | None, FilterLookup("owner_function__reference")] = None
    tag: Annotated[str | None, FilterLookup("tags__name")] = None
    location: Annotated[str | None, FilterLookup("location__iexact")] = None
    attr: str | None = Field(None, description="Attribute value, as key:value (e.g. os:linux)")

    def filter_attr(self, value: str | None) -> Q:
        if not value:
            return Q()
        try:
            return attribute_q(value)
        except ValidationError as exc:
            raise DomainError(exc.messages[0], field="attr") from None


def _create_component(*, by: Any, component_type: str, **fields: Any) -> Component:
    ctype = _by_slug(ComponentType, component_type, "component_type")
    return services.create_component(by=by, component_type=ctype, **fields)


def _update_component(obj: Component, *, by: Any, **fields: Any) -> Component:
    if "component_type" in fields:
        fields["component_type"] = _by_slug(
            ComponentType, fields["component_type"], "component_type"
        )
    return services.update_component(obj, by=by, **fields)


def components_for(user: Any) -> Any:
    qs = Component.objects.select_related("component_type", "owner_function").prefetch_related(
        "tags"
    )
    return _viewable(user, "cmdb.view_component", qs)


Crud(
    path="components",
    model=Component,
    out=ComponentOut,
    create_in=ComponentIn,
    patch_in=ComponentPatch,
    filters=ComponentFilters,
    queryset_for=components_for,
    create=_create_component,
    update=_update_component,
    search_fields=("name", "reference", "description", "location"),
    refs={"owner_function": Function},
).register(router)


# --- relations ------------------------------------------------------------------------------


class RelationOut(Schema):
    id: int
    source: str
    source_name: str
    relation_type: str
    target: str
    target_name: str
    created_at: datetime

    @staticmethod
    def resolve_source(obj: Relation) -> str:
        return str(obj.source.reference)

    @staticmethod
    def resolve_source_name(obj: Relation) -> str:
        return obj.source.name

    @staticmethod
    def resolve_target(obj: Relation) -> str:
        return str(obj.target.reference)

    @staticmethod
    def resolve_target_name(obj: Relation) -> str:
        return obj.target.name

    @staticmethod
    def resolve_relation_type(obj: Relation) -> str:
        return obj.relation_type.slug


class RelationIn(Schema):
    source: str = Field(..., min_length=1, description="Reference of the dependent node")
    relation_type: str = Field(..., min_length=1, description="Slug, e.g. runs-on")
    target: str = Field(..., min_length=1, description="Reference of the node depended on")


class RelationFilters(FilterSchema):
    source: Annotated[str | None, FilterLookup("source__reference")] = None
    target: Annotated[str | None, FilterLookup("target__reference")] = None
    relation_type: Annotated[str | None, FilterLookup("relation_type__slug")] = None
    node: str | None = Field(None, description="Either end")

    def filter_node(self, value: str | None) -> Q:
        return Q(source__reference=value) | Q(target__reference=value) if value else Q()


def relations_for(user: Any) -> Any:
    qs = Relation.objects.select_related("source", "target", "relation_type")
    return _viewable(user, "cmdb.view_relation", qs)


@router.get(
    "/relations",
    response={200: page_of(RelationOut), **ERRORS},
    tags=["Relations"],
    summary="List relations",
)
def list_relations(
    request: HttpRequest,
    filters: Query[RelationFilters],
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    qs = filters.filter(relations_for(request.user))
    page = keyset_page(qs, sort="id", allowed=("id",), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/relations",
    response={201: RelationOut, **ERRORS},
    tags=["Relations"],
    summary="Relate two nodes",
)
def create_relation(request: HttpRequest, payload: RelationIn) -> Any:
    source = resolve_ref(Node, payload.source, "source", required=True)
    target = resolve_ref(Node, payload.target, "target", required=True)
    rtype = _by_slug(RelationType, payload.relation_type, "relation_type")
    return Status(201, services.relate(source, target, rtype, by=request.user))


@router.delete(
    "/relations/{relation_id}",
    response={204: None, **ERRORS},
    tags=["Relations"],
    summary="Remove a relation",
)
def delete_relation(request: HttpRequest, relation_id: int) -> Any:
    relation = get_object_or_404(relations_for(request.user), pk=relation_id)
    services.unrelate(relation, by=request.user)
    return Status(204, None)


@router.delete(
    "/services/{ref}", response={204: None, **ERRORS}, tags=["Services"], summary="Delete a service"
)
def delete_service(request: HttpRequest, ref: str) -> Any:
    services.delete_node(
        get_object_or_404(services_for(request.user), reference=ref), by=request.user
    )
    return Status(204, None)


@router.delete(
    "/components/{ref}",
    response={204: None, **ERRORS},
    tags=["Components"],
    summary="Delete a component",
)
def delete_component(request: HttpRequest, ref: str) -> Any:
    services.delete_node(
        get_object_or_404(components_for(request.user), reference=ref), by=request.user
    )
    return Status(204, None)
