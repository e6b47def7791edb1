"""HubSpot CRM over HTTP (httpx, sync): the real connector.

Talks to api.hubapi.com with a private-app token, or to the local HubSpot-compatible service
(``connectors.crm_service``) in the demo and tests. Every httpx error and HTTP error status is
translated into :mod:`connectors.errors` here, at the boundary.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from connectors.crm.hubspot import _schema as schema
from connectors.crm.hubspot._api import FilterSpec, SortSpec
from connectors.crm.hubspot._engine import _parse_filter
from connectors.crm.hubspot._mapping import HubSpotMapping
from connectors.crm.hubspot._models import IDEMPOTENCY_PROPERTY, CrmRecord, Owner, Pipeline, SearchPage, Stage
from connectors.errors import (
    ConflictError,
    ConnectorAuthError,
    ConnectorError,
    ConnectorUnavailable,
    InvalidRequest,
    RecordNotFound,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# For a create without an idempotency key a retry could duplicate the record, so retry only
# answers that mean "not processed".
SAFE_RETRY_STATUSES = frozenset({429, 503})


class _Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, error: ConnectorUnavailable, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class HubSpotClient(HubSpotMapping):
    """:class:`~connectors.crm.hubspot.HubSpotApi` for HubSpot's CRM REST API.

    ``base_url``: ``https://api.hubapi.com`` or the local service's URL. ``token``: a private-app
    access token (sent as ``Authorization: Bearer``; never logged). 429 and 5xx answers,
    timeouts and connection errors are retried up to ``max_retries`` times with exponential
    backoff, honouring ``Retry-After`` (capped at ``max_backoff`` seconds).

    HubSpot's rate limits are honoured: a 429 waits as long as its policy says (``SECONDLY``: a
    second; ``TEN_SECONDLY_ROLLING``: ``X-HubSpot-RateLimit-Interval-Milliseconds``) and a
    ``DAILY`` 429 is not retried; when ``X-HubSpot-RateLimit-Remaining`` reaches 0 the next call
    waits for the window instead of spending a request on a 429. ``transport``, ``sleep`` and
    ``clock`` exist for tests.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token:
            raise ConnectorAuthError("no HubSpot token configured: set HUBSPOT_TOKEN (a private-app access token)")
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock
        self._quiet_until = 0.0  # clock time before which the rate-limit window is known to be full

    def __repr__(self) -> str:  # never show the token
        return f"HubSpotClient(base_url={str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ connector API

    def get(
        self,
        object_type: str,
        id: str,
        properties: Sequence[str] | None = None,
        associations: Sequence[str] = (),
    ) -> CrmRecord:
        _check_id(object_type, id)
        params: dict[str, str] = {}
        if properties is not None:
            params["properties"] = ",".join(properties)
        if associations:
            params["associations"] = ",".join(associations)
        data = self._call("GET", f"/crm/v3/objects/{object_type}/{id}", params=params, what=(object_type, id))
        return _record(object_type, data)

    def get_many(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str] | None = None
    ) -> list[CrmRecord]:
        """Several records by id with HubSpot's batch read (100 per request), in the order asked.

        Ids that do not exist (or are archived) are left out: HubSpot answers 207 with an error
        item for them, which is not a failure of the call.
        """
        schema.check_object_type(object_type)
        wanted = list(dict.fromkeys(str(i) for i in ids if str(i).isdigit()))
        found: dict[str, CrmRecord] = {}
        for start in range(0, len(wanted), schema.MAX_BATCH_INPUTS):
            body: dict[str, Any] = {"inputs": [{"id": i} for i in wanted[start : start + schema.MAX_BATCH_INPUTS]]}
            if properties is not None:
                body["properties"] = list(properties)
            data = self._call("POST", f"/crm/v3/objects/{object_type}/batch/read", json=body)
            for item in data.get("results", []):
                record = _record(object_type, item)
                found[record.id] = record
        return [found[i] for i in wanted if i in found]

    def search(
        self,
        object_type: str,
        *,
        query: str | None = None,
        filters: Sequence[FilterSpec] = (),
        properties: Sequence[str] | None = None,
        sorts: Sequence[SortSpec] | None = None,
        limit: int = 10,
        after: str | None = None,
    ) -> SearchPage:
        body: dict[str, Any] = {"limit": limit}
        parsed = [_parse_filter(f) for f in filters]
        if parsed:
            body["filterGroups"] = [{"filters": [_filter_json(p, op, v) for p, op, v in parsed]}]
        if query:
            body["query"] = query
        if properties is not None:
            body["properties"] = list(properties)
        if sorts:
            body["sorts"] = [{"propertyName": p, "direction": d} for p, d in sorts]
        if after is not None:
            body["after"] = after
        data = self._call("POST", f"/crm/v3/objects/{object_type}/search", json=body)
        next_after = ((data.get("paging") or {}).get("next") or {}).get("after")
        return SearchPage(
            records=tuple(_record(object_type, r) for r in data.get("results", [])),
            total=int(data.get("total", 0)),
            next_after=None if next_after is None else str(next_after),
        )

    def associations(self, from_type: str, id: str, to_type: str) -> list[str]:
        _check_id(from_type, id)
        out: list[str] = []
        after: str | None = None
        while True:
            params = {"limit": "500", **({"after": after} if after else {})}
            data = self._call(
                "GET",
                f"/crm/v4/objects/{from_type}/{id}/associations/{to_type}",
                params=params,
                what=(from_type, id),
            )
            for item in data.get("results", []):
                to_id = str(item["toObjectId"])
                if to_id not in out:
                    out.append(to_id)
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def update(self, object_type: str, id: str, properties: Mapping[str, str | None]) -> CrmRecord:
        _check_id(object_type, id)
        data = self._call(
            "PATCH",
            f"/crm/v3/objects/{object_type}/{id}",
            json={"properties": dict(properties)},
            what=(object_type, id),
        )
        return _record(object_type, data)

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str | None],
        associations: Sequence[tuple[str, str]] = (),
        idempotency_key: str | None = None,
    ) -> CrmRecord:
        schema.check_object_type(object_type)
        body: dict[str, Any] = {"properties": dict(properties)}
        if associations:
            body["associations"] = [
                {
                    "to": {"id": str(to_id)},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": schema.check_association(object_type, to_type),
                        }
                    ],
                }
                for to_type, to_id in associations
            ]
        path = f"/crm/v3/objects/{object_type}"
        if not idempotency_key:
            return _record(object_type, self._call("POST", path, json=body, unsafe=True))
        body["properties"][IDEMPOTENCY_PROPERTY] = idempotency_key
        wanted = list(properties)

        # Each attempt first looks for a record made by an earlier attempt with the same key,
        # so retrying the whole look-then-create never makes a duplicate (HubSpot has no
        # idempotency header; see the sharp edge about search indexing delay in the README).
        def attempt() -> CrmRecord:
            found = self._search_once(
                object_type, [(IDEMPOTENCY_PROPERTY, "EQ", idempotency_key)], [*wanted, IDEMPOTENCY_PROPERTY]
            )
            if found:
                return found[0]
            return _record(object_type, self._send("POST", path, json=body, what=None))

        return self._retrying(attempt)

    def pipelines(self, object_type: str = "deals") -> list[Pipeline]:
        data = self._call("GET", f"/crm/v3/pipelines/{object_type}")
        return [_pipeline(p) for p in data.get("results", [])]

    def owners(self) -> list[Owner]:
        out: list[Owner] = []
        after: str | None = None
        while True:
            params = {"limit": "100", **({"after": after} if after else {})}
            data = self._call("GET", "/crm/v3/owners", params=params)
            out.extend(
                Owner(
                    id=str(o["id"]),
                    email=str(o.get("email") or ""),
                    first_name=str(o.get("firstName") or ""),
                    last_name=str(o.get("lastName") or ""),
                )
                for o in data.get("results", [])
                if not o.get("archived")
            )
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    # ------------------------------------------------------------ HTTP

    def _search_once(self, object_type: str, filters: list[tuple[str, str, str]], props: list[str]) -> list[CrmRecord]:
        body = {
            "filterGroups": [{"filters": [_filter_json(p, op, v) for p, op, v in filters]}],
            "properties": props,
            "limit": 1,
        }
        data = self._send("POST", f"/crm/v3/objects/{object_type}/search", json=body, what=None)
        return [_record(object_type, r) for r in data.get("results", [])]

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        what: tuple[str, str] | None = None,
        unsafe: bool = False,
    ) -> dict[str, Any]:
        return self._retrying(lambda: self._send(method, path, params=params, json=json, what=what, unsafe=unsafe))

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        for n in range(self.max_retries + 1):
            try:
                return attempt()
            except _Retry as retry:
                if n >= self.max_retries:
                    raise retry.error from retry.error.__cause__
                delay = retry.retry_after if retry.retry_after is not None else self.backoff * 2**n
                delay = min(max(delay, 0.0), self.max_backoff)
                log.info("CRM call failed (%s); retry %d/%d in %.2fs", retry, n + 1, self.max_retries, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        what: tuple[str, str] | None = None,
        unsafe: bool = False,
    ) -> dict[str, Any]:
        """One HTTP exchange: the decoded JSON body, or a translated error (``_Retry`` if worth retrying)."""
        log.debug("CRM %s %s", method, path)
        wait = self._quiet_until - self._clock()
        if wait > 0:
            log.info("HubSpot rate-limit window is full; waiting %.2fs", wait)
            self._sleep(min(wait, self.max_backoff))
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            error = ConnectorUnavailable(f"the CRM did not answer in time ({method} {path})")
            error.__cause__ = exc
            if unsafe and not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
                raise error from exc  # the create may have happened: do not repeat it
            raise _Retry(error) from exc
        except httpx.TransportError as exc:
            error = ConnectorUnavailable(f"cannot reach the CRM at {self._http.base_url} ({type(exc).__name__})")
            error.__cause__ = exc
            if unsafe and not isinstance(exc, httpx.ConnectError):
                raise error from exc
            raise _Retry(error) from exc
        status = response.status_code
        self._note_rate_limit(response)
        if status < 300:
            try:
                data = response.json() if response.content else {}
            except ValueError as exc:
                raise ConnectorUnavailable(f"the CRM sent a response that is not JSON ({method} {path})") from exc
            return data if isinstance(data, dict) else {"results": data}
        message = _error_message(response)
        http_error = httpx.HTTPStatusError(f"{status} {message}", request=response.request, response=response)
        if status == 429:
            policy = _policy_name(response)
            if policy == "DAILY":  # nothing to gain by waiting seconds; it resets at midnight
                raise ConnectorUnavailable(f"HubSpot's daily API limit is used up: {message}") from http_error
            error = ConnectorUnavailable(f"the CRM answered 429 ({policy or 'rate limit'}): {message}")
            error.__cause__ = http_error
            raise _Retry(error, _rate_limit_delay(response, policy)) from http_error
        if status in RETRY_STATUSES:
            error = ConnectorUnavailable(f"the CRM answered {status}: {message}")
            error.__cause__ = http_error
            if unsafe and status not in SAFE_RETRY_STATUSES:
                raise error from http_error
            raise _Retry(error, _retry_after(response)) from http_error
        raise _translate(status, message, what) from http_error

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """Remember when the rolling window is spent, so the next call waits instead of failing."""
        remaining = response.headers.get("X-HubSpot-RateLimit-Remaining")
        if remaining is None or remaining.strip() not in ("0", "-1"):
            return
        interval = _float_header(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
        self._quiet_until = self._clock() + (interval / 1000 if interval else 10.0)


def _translate(status: int, message: str, what: tuple[str, str] | None) -> ConnectorError:
    if status in (401, 403):
        return ConnectorAuthError(f"the CRM rejected our credentials ({status}): {message}")
    if status == 404:
        if what is not None:
            return RecordNotFound(f"{what[0]} {what[1]} not found")
        return RecordNotFound(message or "not found")
    if status == 409:
        return ConflictError(message or "conflict")
    if status >= 500:  # pragma: no cover - 5xx are in RETRY_STATUSES except exotic ones
        return ConnectorUnavailable(f"the CRM answered {status}: {message}")
    return InvalidRequest(message or f"the CRM rejected the request ({status})")


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.reason_phrase


def _policy_name(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    name = body.get("policyName") if isinstance(body, dict) else None
    return str(name) if name else None


def _float_header(response: httpx.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


def _rate_limit_delay(response: httpx.Response, policy: str | None) -> float | None:
    """How long a 429 asks us to wait: Retry-After if sent, else what its policy implies."""
    explicit = _retry_after(response)
    if explicit is not None:
        return explicit
    if policy == "SECONDLY":
        return 1.0
    interval = _float_header(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if interval:
        return interval / 1000
    return 10.0 if policy == "TEN_SECONDLY_ROLLING" else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _check_id(object_type: str, id: str) -> None:
    schema.check_object_type(object_type)
    if not str(id).isdigit():
        # HubSpot ids are numeric; an id like "acme" cannot exist (and must not reach the URL path).
        raise RecordNotFound(f"{object_type} {id} not found")


def _filter_json(prop: str, op: str, value: object) -> dict[str, Any]:
    out: dict[str, Any] = {"propertyName": prop, "operator": op}
    if isinstance(value, list):
        out["values"] = value
    elif value is not None:
        out["value"] = value
    return out


def _record(object_type: str, data: Mapping[str, Any]) -> CrmRecord:
    try:
        links: dict[str, tuple[str, ...]] = {}
        for to_type, block in (data.get("associations") or {}).items():
            ids = tuple(dict.fromkeys(str(item["id"]) for item in block.get("results", [])))
            if ids:
                links[to_type] = ids
        props = {str(k): (None if v is None else str(v)) for k, v in (data.get("properties") or {}).items()}
        return CrmRecord(
            object_type=object_type,
            id=str(data["id"]),
            properties=props,
            created_at=str(data.get("createdAt") or props.get("createdate") or ""),
            updated_at=str(data.get("updatedAt") or props.get("hs_lastmodifieddate") or ""),
            archived=bool(data.get("archived", False)),
            associations=links,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConnectorUnavailable(f"the CRM sent a {object_type} record in an unexpected shape") from exc


def _pipeline(data: Mapping[str, Any]) -> Pipeline:
    stages = []
    for s in data.get("stages", []):
        meta = s.get("metadata") or {}
        prob = meta.get("probability")
        stages.append(
            Stage(
                id=str(s["id"]),
                label=str(s.get("label") or s["id"]),
                display_order=int(s.get("displayOrder", 0)),
                probability=None if prob in (None, "") else float(prob),
                is_closed=str(meta.get("isClosed", "false")).lower() == "true",
            )
        )
    stages.sort(key=lambda s: s.display_order)
    label = str(data.get("label") or data["id"])
    return Pipeline(str(data["id"]), label, int(data.get("displayOrder", 0)), tuple(stages))


__all__ = ["HubSpotClient"]
