"""Blueprints within limits: an alias bomb, deep nesting and a huge file are refused with a
clear error, quickly and without the memory they would take."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from plugyard.adapters.lifecycle import BlueprintError, load_blueprint
from plugyard.adapters.lifecycle._yaml import YamlLimitError, YamlLimits, load_yaml


def _alias_bomb(levels: int) -> str:
    """The 744-byte kind of blueprint: each line doubles... here, multiplies by nine."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        refs = ",".join([f"*a{n - 1}"] * 9)
        lines.append(f"a{n}: &a{n} [{refs}]")
    return "tosca_definitions_version: cloudify_dsl_1_3\ninputs:\n  bomb:\n    default:\n" + (
        "\n".join("      " + line for line in lines)
    )


def test_an_alias_bomb_blueprint_is_refused_fast_and_small(tmp_path: Path) -> None:
    blueprint = tmp_path / "bomb.yaml"
    blueprint.write_text(_alias_bomb(9))  # 9**9 = 387 million strings once expanded
    assert blueprint.stat().st_size < 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(BlueprintError, match=r"bomb\.yaml: refused: expands to more than"):
            load_blueprint(blueprint)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 50 * 1024 * 1024


def test_deep_nesting_is_refused_with_a_message_not_a_recursion_error(tmp_path: Path) -> None:
    blueprint = tmp_path / "deep.yaml"
    blueprint.write_text("inputs: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(BlueprintError, match=r"deep\.yaml: refused: nested"):
        load_blueprint(blueprint)


def test_limits_are_exact_and_adjustable() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"  # 1 + (1 + 4) + (1 + 1 + 4 + 4) = 16 values
    assert load_yaml(text, YamlLimits(max_nodes=16)) == {"a": [1, 2, 3], "b": [[1, 2, 3]] * 2}
    with pytest.raises(YamlLimitError, match="more than 15 values"):
        load_yaml(text, YamlLimits(max_nodes=15))
    with pytest.raises(YamlLimitError, match="over the limit of 10"):
        load_yaml(text, YamlLimits(max_size=10))
    with pytest.raises(YamlLimitError, match="deeper than the limit of 2"):
        load_yaml("a: [[[1]]]", YamlLimits(max_depth=2))


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(YamlLimitError, match="refers to a node that contains it"):
        load_yaml("a: &a [1, *a]\n")


def _scaled(tmp_path: Path, outer: int, inner: int) -> Path:
    blueprint = tmp_path / "scaled.yaml"
    blueprint.write_text(
        "tosca_definitions_version: cloudify_dsl_1_3\n"
        "node_templates:\n"
        "  host:\n    type: plugyard.nodes.Root\n"
        f"    instances: {{deploy: {outer}}}\n"
        "  app:\n    type: plugyard.nodes.Root\n"
        f"    instances: {{deploy: {inner}}}\n"
        "    relationships:\n      - {type: plugyard.relationships.contained_in, target: host}\n"
    )
    return blueprint


def test_a_huge_instance_count_is_refused_at_once(tmp_path: Path) -> None:
    from plugyard.adapters.lifecycle import init_env

    started = time.monotonic()
    with pytest.raises(
        BlueprintError,
        match=r"node_templates\.host\.instances\.deploy: 100000000 instances is over the "
        r"limit of 10000 \(\[lifecycle\] max_instances\)",
    ):
        init_env(_scaled(tmp_path, 100_000_000, 1))
    nested = _scaled(tmp_path, 1000, 1000)  # each allowed alone, a million together
    with pytest.raises(BlueprintError, match=r"node_templates\.app\.instances: .* 1001000 node"):
        init_env(nested)
    assert time.monotonic() - started < 5
    env = init_env(_scaled(tmp_path, 10, 10))
    assert len(env.storage.get_node_instances()) == 110
    env.close()
