"""Command groups that load when used: ``chamberlain approvals list`` imports and builds only
``approvals``, not the other twenty groups.

Building a click command from a typed function costs about a millisecond per command (typer
resolves every parameter's type), and a group module may import more than its commands need at
start-up; with fifty commands that was a tenth of a second on every start. ``--help`` (which lists
every group with its one-line help), a typo's "did you mean" and shell completion still see every
name: the mapping below knows them all and builds a group the first time it is looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping

import typer
from typer import _click
from typer.core import TyperGroup
from typer.main import get_group_from_info
from typer.models import TyperInfo

# A group's loader: imports its module and returns its Typer app (with any commands that other
# modules add to it). Called at most once per process: apps are module-level singletons.
Loader = Callable[[], typer.Typer]


class _Commands(MutableMapping[str, _click.Command]):
    """The root's commands: the ones typer built, then the lazy groups in table order."""

    def __init__(self, built: Mapping[str, _click.Command], owner: LazyGroups) -> None:
        self._built = dict(built)
        self._owner = owner

    def _names(self) -> list[str]:
        lazy = [n for n in self._owner.loaders if n not in self._built]
        return [*self._built, *lazy]

    def __getitem__(self, name: str) -> _click.Command:
        cmd = self._built.get(name)
        if cmd is None:
            if name not in self._owner.loaders:
                raise KeyError(name)
            cmd = self._built[name] = self._owner.build(name)
        return cmd

    def __setitem__(self, name: str, cmd: _click.Command) -> None:
        self._built[name] = cmd

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._owner.loaders


class LazyGroups(TyperGroup):
    """A root group whose sub-groups (``loaders``: name → loader) are built on first lookup."""

    loaders: Mapping[str, Loader] = {}
    # What typer passes down to the groups it builds itself (the root Typer's default).
    pretty_exceptions_short = True

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)  # type: ignore[arg-type]
        self.commands = _Commands(self.commands, self)

    def build(self, name: str) -> _click.Command:
        sub = _loaded(self.loaders[name])
        return get_group_from_info(
            TyperInfo(sub, name=name),
            pretty_exceptions_short=self.pretty_exceptions_short,
            suggest_commands=self.suggest_commands,
            rich_markup_mode=self.rich_markup_mode,
        )


_APPS: dict[Loader, typer.Typer] = {}


def _loaded(loader: Loader) -> typer.Typer:
    # Once per process: a loader may add commands to another module's app (requests → approvals),
    # and the tests invoke the CLI many times in one process.
    app = _APPS.get(loader)
    if app is None:
        app = _APPS[loader] = loader()
    return app


def lazy_groups(loaders: Mapping[str, Loader]) -> type[LazyGroups]:
    """The group class for ``typer.Typer(cls=...)`` with these lazily built sub-groups."""
    return type("ChamberlainGroups", (LazyGroups,), {"loaders": dict(loaders)})


__all__ = ["LazyGroups", "Loader", "lazy_groups"]
