"""Typed items: declared properties and edges, checked when created and assigned."""

from __future__ import annotations

from datetime import datetime

import pytest
from pod_fixtures import Note, Person

from plugyard.sdk.pod import (
    TERMINAL,
    TRANSITIONS,
    Account,
    InvalidTransition,
    Item,
    PluginRun,
    RunStatus,
    check_transition,
    schema_of,
)


class Beagle(Item):
    name: str | None
    age: int | None
    weight: float | None
    bites: bool | None
    born: datetime | None
    owner: list[Person]


def test_positional_properties_follow_declaration_order() -> None:
    beagle = Beagle("Alice", 3)
    assert (beagle.name, beagle.age, beagle.owner, beagle.id, beagle.type) == (
        "Alice",
        3,
        [],
        None,
        "Beagle",
    )


def test_unknown_property_is_refused_naming_the_declared_ones() -> None:
    with pytest.raises(TypeError, match=r"Beagle: unknown property 'colour' \(declared: name, age"):
        Beagle(name="Rex", colour="red")


@pytest.mark.parametrize(
    ("field", "value"),
    [("age", "ten"), ("age", True), ("name", 5), ("bites", 1), ("born", "2020-01-01")],
)
def test_wrong_types_are_refused(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=rf"Beagle\.{field}: expected"):
        Beagle(**{field: value})


def test_assignment_is_checked_and_int_is_a_float() -> None:
    beagle = Beagle(weight=3)
    assert beagle.weight == 3.0 and isinstance(beagle.weight, float)
    with pytest.raises(TypeError, match="Beagle.age"):
        beagle.age = "old"


def test_edges_take_items_of_the_declared_type() -> None:
    ann = Person("Ann")
    assert list(Beagle(owner=[ann]).edges()) == [("owner", ann)]
    with pytest.raises(TypeError, match=r"Beagle\.owner: expected a list of Person"):
        Beagle(owner=[Note("x")])
    with pytest.raises(TypeError, match=r"Note\.author: expected a Person or None"):
        Note(author=Beagle())


def test_too_many_positional_values() -> None:
    with pytest.raises(
        TypeError, match=r"Person\(\) takes at most 1 positional properties \(name\), got 3"
    ):
        Person("a", "b", "c")  # type: ignore[call-arg]


def test_unsupported_annotation_is_reported_with_the_class() -> None:
    class Bad(Item):
        data: dict[str, int] | None

    with pytest.raises(TypeError, match=r"Bad\.data: unsupported annotation"):
        Bad()


def test_round_trip_through_dicts_keeps_types() -> None:
    beagle = Beagle("Alice", 3, 4.5, False, datetime(2020, 5, 17, 12, 0))
    beagle.id = "d1"
    data = beagle.to_dict()
    assert data["born"] == "2020-05-17T12:00:00"
    again = Item.from_dict({**data, "created_at": 1.0})
    assert isinstance(again, Beagle) and again == beagle and again.born == beagle.born


def test_unknown_types_read_as_generic_items() -> None:
    item = Item.from_dict({"id": "x", "type": "Cat", "lives": 9})
    assert item.type == "Cat" and item.lives == 9
    with pytest.raises(AttributeError, match="Cat item has no property 'tail'"):
        _ = item.tail


def test_schema_follows_edges() -> None:
    schema = schema_of(Beagle)
    assert schema["Beagle"]["properties"]["born"] == "datetime"
    assert schema["Beagle"]["edges"] == {"owner": "Person"}
    assert schema["Person"] == {"properties": {"name": "str"}, "edges": {}}
    with pytest.raises(TypeError, match="Item subclasses"):
        schema_of(str)  # type: ignore[arg-type]


def test_account_repr_never_shows_secrets() -> None:
    account = Account(identifier="ann", secret="hunter2", access_token="tok")
    assert "hunter2" not in repr(account) and "tok'" not in repr(account)
    assert "identifier='ann'" in repr(account)


def test_plugin_run_fields() -> None:
    assert {
        "plugin_module",
        "plugin_name",
        "config",
        "status",
        "progress",
        "error",
        "traceback",
        "launcher",
        "started_at",
        "ended_at",
        "exit_code",
    } <= set(PluginRun.fields())


def test_transition_table() -> None:
    assert {RunStatus.DONE, RunStatus.ERROR, RunStatus.ABORTED} == TERMINAL
    assert set(TRANSITIONS) == set(RunStatus)
    check_transition("started", "user_action_needed")
    check_transition("user_action_needed", "ready")
    check_transition("started", "daemon")
    with pytest.raises(InvalidTransition, match=r"from 'done' to 'started' \(allowed: nothing"):
        check_transition("done", "started")
    with pytest.raises(InvalidTransition, match="unknown status 'finished'"):
        check_transition("started", "finished")
    with pytest.raises(InvalidTransition, match="allowed: aborted, error, ready"):
        check_transition("user_action_needed", "done")


def test_a_subclass_writes_its_own_properties_not_its_parents() -> None:
    class Base(Item):
        name: str | None

    class Child(Base):
        born: datetime | None

    assert Base("a").to_dict() == {"id": None, "type": "Base", "name": "a"}
    when = datetime(2024, 5, 1, 12, 0)
    assert Child("b", when).to_dict() == {
        "id": None,
        "type": "Child",
        "name": "b",
        "born": "2024-05-01T12:00:00",
    }
    generic = Item.from_dict({"id": "g", "type": "Elsewhere", "at": when, "n": 1})
    assert generic.to_dict() == {"id": "g", "type": "Elsewhere", "at": when.isoformat(), "n": 1}
