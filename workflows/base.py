"""Binding `transitions` machines to records for the length of one operation.

A machine is built per operation with `initial=record.state`, so binding never
changes a loaded record, and `auto_transitions=False`, so no `to_<state>` shortcut
exists to bypass the guards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from transitions import Machine, MachineError

from workflows.errors import InvalidTransition, Refusal, TransitionRefused

Guard = Callable[["Event"], "Refusal | None"]
"""A guard returns None when the event may proceed, or a Refusal saying why not."""


@dataclass(frozen=True)
class Event:
    """What a guard sees: the record, the actor and the facts the caller supplied."""

    record: Any
    actor: Any
    facts: dict


@dataclass(frozen=True)
class Edge:
    """One allowed event from one or more states to a destination."""

    event: str
    sources: tuple[str, ...]
    dest: str
    guards: tuple[Guard, ...] = ()


def edge(event: str, source, dest, *guards: Guard) -> Edge:
    """Build an edge; enum members become their string values."""
    sources = source if isinstance(source, (list, tuple)) else [source]
    return Edge(event, tuple(str(s) for s in sources), str(dest), tuple(guards))


class _Subject:
    """What `transitions` moves: proxies `state` to the record."""

    def __init__(self, record):
        self.record = record

    @property
    def state(self):
        return self.record.state

    @state.setter
    def state(self, value):
        # `transitions` sets the initial state when it binds; writing an equal value
        # would still mark an ORM row dirty, so only a real move writes.
        if self.record.state != str(value):
            self.record.state = str(value)


@dataclass(frozen=True)
class Workflow:
    """A named machine definition: states and guarded edges."""

    name: str
    states: type[StrEnum]
    edges: tuple[Edge, ...]
    _by_event: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        for e in self.edges:
            self._by_event.setdefault(e.event, []).append(e)

    @property
    def events(self) -> list[str]:
        """Every event name, in definition order."""
        return list(dict.fromkeys(e.event for e in self.edges))

    def _edge_for(self, event: str, state: str) -> Edge | None:
        for e in self._by_event.get(event, ()):
            if state in e.sources:
                return e
        return None

    def refusal(self, record, event: str, actor, facts: dict | None = None) -> Refusal | None:
        """Why `event` may not happen now (None when it may).

        :raises InvalidTransition: the event is unknown or impossible from this state.
        """
        e = self._edge_for(event, record.state)
        if e is None:
            raise InvalidTransition(event, record.state)
        ctx = Event(record, actor, dict(facts or {}))
        for guard in e.guards:
            refused = guard(ctx)
            if refused:
                return refused
        return None

    def may(self, record, event: str, actor, facts: dict | None = None) -> bool:
        """True when `event` is possible now for `actor` (no state change)."""
        try:
            return self.refusal(record, event, actor, facts) is None
        except InvalidTransition:
            return False

    def available(self, record, actor, facts: dict | None = None) -> list[str]:
        """Events `actor` may fire on `record` now."""
        return [ev for ev in self.events if self.may(record, ev, actor, facts)]

    def apply(self, record, event: str, actor, facts: dict | None = None) -> str:
        """Move `record` along `event`; returns the new state.

        :raises InvalidTransition: not possible from the current state.
        :raises TransitionRefused: a guard refused; the record is unchanged.
        """
        refusal = self.refusal(record, event, actor, facts)
        if refusal:
            raise TransitionRefused(event, record.state, refusal)
        machine = self.bind(record)
        try:
            machine.model.trigger(event)
        except MachineError as exc:  # pragma: no cover - refusal() checked the same edge
            raise InvalidTransition(event, record.state) from exc
        finally:
            machine.remove_model(machine.model)
        return record.state

    def bind(self, record) -> Machine:
        """A `transitions` machine bound to `record` for one operation (its `model`).

        It starts in the record's own state, so binding never changes a loaded record,
        and has no automatic `to_<state>` triggers, so only the edges above exist.
        Guards are not part of it: `apply()` checks them first.
        """
        subject = _Subject(record)
        machine = Machine(
            model=subject,
            states=[s.value for s in self.states],
            transitions=[
                {"trigger": e.event, "source": list(e.sources), "dest": e.dest} for e in self.edges
            ],
            initial=record.state,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        return machine

    def mermaid(self) -> str:
        """A Mermaid state diagram of this machine, generated from its edges."""
        lines = ["stateDiagram-v2"]
        initial = next(iter(self.states)).value
        lines.append(f"    [*] --> {initial}")
        for e in self.edges:
            for src in e.sources:
                lines.append(f"    {src} --> {e.dest}: {e.event}")
        return "\n".join(lines) + "\n"
