"""What the rest of Chamberlain may ask of a CRM, in the neutral model (:mod:`connectors.crm.model`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from connectors.crm.model import (
    Condition,
    CrmObject,
    Deal,
    Kind,
    NewNote,
    NewTask,
    Note,
    Owner,
    Page,
    Pipeline,
    Sort,
    Task,
)


@runtime_checkable
class CrmConnector(Protocol):
    """A CRM of deals, contacts, companies, notes and tasks, whatever the vendor.

    Every method raises :mod:`connectors.errors` types only: ``RecordNotFound`` for an unknown
    id, ``InvalidRequest`` for a request the CRM rejects (unknown field, bad stage, bad
    value...), ``ConnectorUnavailable`` when the CRM cannot be reached or rate-limits us
    (``RetryLater`` when it says when), ``ConnectorAuthError`` for bad credentials.
    """

    def fetch(self, kind: Kind, id: str, *, related: Sequence[Kind] = ()) -> CrmObject:
        """One record with all its fields; ``related`` lists kinds whose associated ids to include."""
        ...

    def fetch_many(self, kind: Kind, ids: Sequence[str]) -> list[CrmObject]:
        """Several records by id, in the order asked, each once; unknown ids are left out."""
        ...

    def find(
        self,
        kind: Kind,
        *,
        text: str | None = None,
        where: Sequence[Condition] = (),
        order_by: Sort | None = None,
        limit: int = 10,
        after: str | None = None,
    ) -> Page:
        """Records matching free ``text`` (names, emails, domains...) and every condition, one
        page at a time; ``after`` is the previous page's ``next_after``."""
        ...

    def linked(self, kind: Kind, id: str, to_kind: Kind) -> list[str]:
        """Ids of the ``to_kind`` records associated with record ``id``."""
        ...

    def update_deal(
        self, id: str, *, stage: str | None = None, amount: Decimal | None = None, owner_id: str | None = None
    ) -> Deal:
        """Set the given fields (naturally idempotent); returns the updated deal."""
        ...

    def add_note(self, note: NewNote, *, idempotency_key: str | None = None) -> Note:
        """Create a note on its parent. With an ``idempotency_key``, a note created earlier with
        the same key is returned instead of a second one."""
        ...

    def add_task(self, task: NewTask, *, idempotency_key: str | None = None) -> Task:
        """Create a task on its parent; idempotent by key like :meth:`add_note`."""
        ...

    def pipelines(self, object_type: str = "deals") -> list[Pipeline]:
        """The deal pipelines and their stages."""
        ...

    def owners(self) -> list[Owner]:
        """Every CRM user who can own records."""
        ...


__all__ = ["CrmConnector"]
