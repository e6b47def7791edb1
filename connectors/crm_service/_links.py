"""Association (v3 and v4), pipeline and owner endpoints of the local service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, Query
from fastapi.responses import JSONResponse

from connectors.crm.hubspot import _schema as schema
from connectors.crm_service._store import SqliteCrmStore
from connectors.crm_service._wire import batch_ids, now_stamp, owner_json, page_of, paging_json, pipeline_json
from connectors.errors import RecordNotFound


def add_link_routes(app: FastAPI, crm: SqliteCrmStore) -> None:
    """Register the association, pipeline and owner endpoints on ``app`` over ``crm``."""

    @app.get("/crm/v3/objects/{from_type}/{object_id}/associations/{to_type}")
    def list_associations_v3(
        from_type: str, object_id: str, to_type: str, limit: int = 500, after: str | None = None
    ) -> dict[str, Any]:
        ids = crm.associations(from_type, object_id, to_type)
        label = schema.association_label(from_type, to_type)
        chunk, next_after = page_of(ids, limit, after)
        out: dict[str, Any] = {"results": [{"id": i, "type": label} for i in chunk]}
        if next_after is not None:
            out["paging"] = paging_json(
                request_path=f"/crm/v3/objects/{from_type}/{object_id}/associations/{to_type}", after=next_after
            )
        return out

    @app.post("/crm/v3/associations/{from_type}/{to_type}/batch/read")
    def batch_read_associations_v3(
        from_type: str, to_type: str, body: Annotated[dict[str, Any], Body()]
    ) -> JSONResponse:
        started = now_stamp()
        ids = batch_ids(body)
        found = crm.associated_many(from_type, ids, to_type)
        label = schema.association_label(from_type, to_type)
        results = [
            {"from": {"id": i}, "to": [{"id": t, "type": label} for t in linked]}
            for i, linked in found.items()
            if linked
        ]
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_stamp(),
        }
        # HubSpot reports a record with no such associations (or no such record) as an error item.
        empty = [i for i in dict.fromkeys(ids) if not found.get(i)]
        if not empty:
            return JSONResponse(out)
        out["numErrors"] = len(empty)
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": f"No {to_type} is associated with {schema.singular(from_type)} {i}.",
                "context": {"fromObjectId": [i]},
                "errors": [],
                "links": {},
            }
            for i in empty
        ]
        return JSONResponse(out, status_code=207)

    @app.get("/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}")
    def list_associations(
        from_type: str, object_id: str, to_type: str, limit: int = 500, after: str | None = None
    ) -> dict[str, Any]:
        ids = crm.associations(from_type, object_id, to_type)
        type_id = schema.ASSOCIATION_TYPE_IDS[(from_type, to_type)]
        chunk, next_after = page_of(ids, limit, after)
        out: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(i),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                }
                for i in chunk
            ]
        }
        if next_after is not None:
            out["paging"] = {"next": {"after": next_after}}
        return out

    @app.put("/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")
    def create_default_association(from_type: str, from_id: str, to_type: str, to_id: str) -> dict[str, Any]:
        started = now_stamp()
        forward = crm.associate(from_type, from_id, to_type, to_id)
        backward = schema.ASSOCIATION_TYPE_IDS[(to_type, from_type)]
        return {
            "status": "COMPLETE",
            "results": [
                {
                    "from": {"id": from_id},
                    "to": {"id": to_id},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": forward},
                },
                {
                    "from": {"id": to_id},
                    "to": {"id": from_id},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": backward},
                },
            ],
            "startedAt": started,
            "completedAt": now_stamp(),
        }

    @app.get("/crm/v3/pipelines/{object_type}")
    def list_pipelines(object_type: str) -> dict[str, Any]:
        return {"results": [pipeline_json(p) for p in crm.pipelines(object_type)]}

    @app.get("/crm/v3/pipelines/{object_type}/{pipeline_id}")
    def get_pipeline(object_type: str, pipeline_id: str) -> dict[str, Any]:
        return pipeline_json(crm.pipeline(object_type, pipeline_id))

    @app.get("/crm/v3/pipelines/{object_type}/{pipeline_id}/stages")
    def list_stages(object_type: str, pipeline_id: str) -> dict[str, Any]:
        return {"results": pipeline_json(crm.pipeline(object_type, pipeline_id))["stages"]}

    @app.get("/crm/v3/pipelines/{object_type}/{pipeline_id}/stages/{stage_id}")
    def get_stage(object_type: str, pipeline_id: str, stage_id: str) -> dict[str, Any]:
        for stage in pipeline_json(crm.pipeline(object_type, pipeline_id))["stages"]:
            if stage["id"] == stage_id:
                return stage
        raise RecordNotFound(f"Unable to find stage {stage_id} in pipeline {pipeline_id}")

    @app.get("/crm/v3/owners")
    @app.get("/crm/v3/owners/", include_in_schema=False)  # the official client asks with the slash
    def list_owners(
        limit: int = 100, after: str | None = None, email: str | None = None, archived: bool = False
    ) -> dict[str, Any]:
        owners = [] if archived else crm.owners()
        if email:
            owners = [o for o in owners if o.email.lower() == email.lower()]
        chunk, next_after = page_of(owners, min(limit, 500), after)
        out: dict[str, Any] = {"results": [owner_json(o) for o in chunk]}
        if next_after is not None:
            out["paging"] = paging_json(request_path="/crm/v3/owners/", after=next_after)
        return out

    @app.get("/crm/v3/owners/{owner_id}")
    def get_owner(
        owner_id: str,
        id_property: Annotated[str, Query(alias="idProperty")] = "id",
        archived: bool = False,
    ) -> dict[str, Any]:
        if archived:
            raise RecordNotFound(f"Owner {owner_id} not found")
        return owner_json(crm.owner(owner_id, id_property))
