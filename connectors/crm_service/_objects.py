"""CRM v3 object endpoints of the local service: list, read, batch read, search, update, archive, create."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query
from fastapi.responses import JSONResponse, Response

from connectors.crm.hubspot import _schema as schema
from connectors.crm_service._store import SqliteCrmStore
from connectors.crm_service._wire import (
    SEARCH_FIELDS,
    batch_ids,
    now_stamp,
    paging_json,
    parse_filter_group,
    parse_sort,
    record_json,
    split_values,
)
from connectors.errors import InvalidRequest


def add_object_routes(app: FastAPI, crm: SqliteCrmStore) -> None:
    """Register the object endpoints on ``app`` over ``crm``."""

    @app.get("/crm/v3/objects/{object_type}")
    def list_objects(
        object_type: str,
        limit: int = 10,
        after: str | None = None,
        archived: bool = False,
        properties: Annotated[list[str] | None, Query()] = None,
        associations: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        page = crm.list_page(
            object_type, limit=limit, after=after, properties=split_values(properties), archived=archived
        )
        to_types = split_values(associations) or []
        ids = [r.id for r in page.records]
        linked = {t: crm.associated_many(object_type, ids, t) for t in to_types}
        results = [
            record_json(
                replace(r, associations={t: tuple(by_id[r.id]) for t, by_id in linked.items() if by_id.get(r.id)})
            )
            for r in page.records
        ]
        out: dict[str, Any] = {"results": results}
        if page.next_after is not None:
            out["paging"] = paging_json(request_path=f"/crm/v3/objects/{object_type}", after=page.next_after)
        return out

    @app.get("/crm/v3/objects/{object_type}/{object_id}")
    def get_object(
        object_type: str,
        object_id: str,
        properties: Annotated[list[str] | None, Query()] = None,
        associations: Annotated[list[str] | None, Query()] = None,
        archived: bool = False,
        id_property: Annotated[str | None, Query(alias="idProperty")] = None,
    ) -> dict[str, Any]:
        props = split_values(properties)
        to_types = split_values(associations) or []
        if id_property not in (None, "", "hs_object_id"):
            return record_json(crm.get_by(object_type, id_property, object_id, props, to_types))
        return record_json(crm.get(object_type, object_id, props, to_types))

    @app.post("/crm/v3/objects/{object_type}/batch/read")
    def batch_read(object_type: str, body: Annotated[dict[str, Any], Body()], archived: bool = False) -> JSONResponse:
        started = now_stamp()
        ids = batch_ids(body)
        props = body.get("properties")
        if props is not None and not (isinstance(props, list) and all(isinstance(p, str) for p in props)):
            raise InvalidRequest("properties must be a list of property names")
        id_property = body.get("idProperty")
        if id_property is not None and not isinstance(id_property, str):
            raise InvalidRequest("idProperty must be a property name")
        found, missing = crm.read_batch(object_type, ids, props or None, id_property or None)
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": [record_json(r) for r in found],
            "startedAt": started,
            "completedAt": now_stamp(),
        }
        if not missing:
            return JSONResponse(out)
        singular = schema.singular(object_type).upper()
        out["numErrors"] = 1
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {singular} objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return JSONResponse(out, status_code=207)

    @app.post("/crm/v3/objects/{object_type}/search")
    def search_objects(object_type: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        schema.check_object_type(object_type)
        unknown = sorted(set(body) - SEARCH_FIELDS)
        if unknown:
            raise InvalidRequest(f"Unrecognized field(s) in the search request: {', '.join(unknown)}")
        groups = body.get("filterGroups")
        if groups is None:
            groups = []
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise InvalidRequest('filterGroups must be a list of objects like {"filters": [...]}')
        filter_groups = [parse_filter_group(g) for g in groups]
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise InvalidRequest(f"limit must be an integer, got {limit!r}")
        query = body.get("query")
        if query is not None and not isinstance(query, str):
            raise InvalidRequest("query must be a string")
        props = body.get("properties")
        if props is not None and not (isinstance(props, list) and all(isinstance(p, str) for p in props)):
            raise InvalidRequest("properties must be a list of property names")
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise InvalidRequest("sorts must be a list")
        page = crm.search(
            object_type,
            query=query or None,
            filter_groups=filter_groups,
            properties=props or None,
            sorts=[parse_sort(s) for s in sorts] or None,
            limit=limit,
            after=None if body.get("after") in (None, "") else str(body["after"]),
        )
        out: dict[str, Any] = {"total": page.total, "results": [record_json(r) for r in page.records]}
        if page.next_after is not None:
            out["paging"] = {"next": {"after": page.next_after, "link": f"?after={page.next_after}"}}
        return out

    @app.patch("/crm/v3/objects/{object_type}/{object_id}")
    def update_object(object_type: str, object_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        props = body.get("properties")
        if not isinstance(props, dict):
            raise InvalidRequest("request body needs a 'properties' object")
        return record_json(crm.update(object_type, object_id, props))

    @app.delete("/crm/v3/objects/{object_type}/{object_id}", status_code=204)
    def archive_object(object_type: str, object_id: str) -> Response:
        crm.archive(object_type, object_id)
        return Response(status_code=204)

    @app.post("/crm/v3/objects/{object_type}", status_code=201)
    def create_object(object_type: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        schema.check_object_type(object_type)
        props = body.get("properties")
        if not isinstance(props, dict):
            raise InvalidRequest("request body needs a 'properties' object")
        links: list[tuple[str, str]] = []
        raw_links = body.get("associations") or []
        if not isinstance(raw_links, list):
            raise InvalidRequest("associations must be a list")
        for item in raw_links:
            try:
                to_id = str(item["to"]["id"])
                types = list(item["types"])
            except (KeyError, TypeError):
                raise InvalidRequest("each association needs 'to': {'id'} and 'types'") from None
            for t in types:
                type_id = t.get("associationTypeId") if isinstance(t, dict) else None
                to_type = schema.to_type_for(object_type, type_id) if isinstance(type_id, int) else None
                if to_type is None:
                    raise InvalidRequest(f"{type_id!r} is not a valid association type id for {object_type}")
                links.append((to_type, to_id))
        return record_json(crm.create(object_type, props, links))
