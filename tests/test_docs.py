"""The docs keep up with the code.

The guide builds strictly; the generated references (CLI, hooks, configuration) cover every
command, hook specification and settings field; every relative link works; and the example
adapter of "Writing an adapter" passes its own tests.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCGEN = ROOT / "docgen"


def _docgen(name: str) -> ModuleType:
    """One of the guide's build hooks, imported from its file as MkDocs imports it."""
    module_name = f"docgen_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, DOCGEN / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PLUGYARD_DISABLE_AUTOLOAD"}
    env["NO_MKDOCS_2_WARNING"] = "1"
    return env


# -- the hook reference ---------------------------------------------------------------------


def _hook_headings() -> set[str]:
    text = _docgen("hook_reference").render()
    return set(re.findall(r"^### (plugyard_\w+)$", text, flags=re.MULTILINE))


def test_every_host_hook_spec_is_in_the_hook_reference() -> None:
    from plugyard.host import hookspecs

    missing = sorted(set(hookspecs.__all__) - _hook_headings())
    assert missing == [], f"the hook reference lacks {', '.join(missing)}"


def test_every_adapter_hook_spec_is_in_the_hook_reference() -> None:
    from plugyard.adapters.lifecycle import hookspecs

    missing = sorted(set(hookspecs.__all__) - _hook_headings())
    assert missing == [], f"the hook reference lacks {', '.join(missing)}"


def test_every_hook_spec_has_a_docstring_that_the_reference_shows() -> None:
    hooks = _docgen("hook_reference").collect()
    assert {h.name for h in hooks} >= {"plugyard_configure", "plugyard_lifecycle_operation"}
    bare = [h.name for h in hooks if len(h.doc.split()) < 20]
    assert bare == [], f"hook specs without a real docstring: {bare}"
    configure = next(h for h in hooks if h.name == "plugyard_configure")
    assert configure.source.startswith(
        '@hookspec\n@versioned(since="1.0")\n@policy(errors="isolate", timeout=10.0)'
    )
    assert configure.history == (("1.0", "added"),)
    assert configure.policy == "`errors=isolate`, `result=all`, timeout 10 s"


def test_docstring_markup_becomes_markdown() -> None:
    convert = _docgen("hook_reference").rst_to_markdown
    text = "Returns :class:`~plugyard.host.Command` or ``None``.\n\nExample::\n\n    x = 1\n"
    assert convert(text) == "Returns `Command` or `None`.\n\nExample:\n\n```python\nx = 1\n```\n"


# -- the CLI reference ----------------------------------------------------------------------


def _all_paths(group: click.Group, prefix: str) -> list[str]:
    ctx = click.Context(group, info_name=prefix)
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        paths.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            paths += _all_paths(command, f"{prefix} {name}")
    return paths


def test_the_cli_reference_has_every_adapter_subcommand() -> None:
    from plugyard.host import entry_points, import_target

    text = _docgen("cli_reference").render()
    contributed = []
    for info in entry_points("plugyard.adapters"):
        adapter = import_target(info.value, where=info.name)
        hook = getattr(adapter, "plugyard_cli", None)
        if hook is not None:
            probe = click.Group("plugyard")
            hook(cli=probe)
            contributed += _all_paths(probe, "plugyard")
    assert {"plugyard worker", "plugyard tasks send", "plugyard lifecycle install"} <= set(
        contributed
    )
    assert {"plugyard pod launch", "plugyard call", "plugyard events"} <= set(contributed)
    missing = [path for path in contributed if f"`{path}`" not in text]
    assert missing == [], f"the CLI reference lacks {missing}"


def test_the_cli_reference_has_every_command_and_leaves_the_real_group_alone() -> None:
    from plugyard.host.cli import cli

    before = set(cli.commands)
    reference = _docgen("cli_reference")
    headings = set(re.findall(r"^#{2,4} `(plugyard[^`]*)`$", reference.render(), re.MULTILINE))
    assert set(cli.commands) == before
    for path in ["plugyard", *(f"plugyard {name}" for name in before)]:
        assert path in headings
    assert headings == set(reference.command_paths())
    assert len(headings) >= 20


def test_help_text_is_escaped_outside_code_spans() -> None:
    escape = _docgen("cli_reference")._escape
    assert escape("a <b> *c* ``--x_y`` d_e") == "a &lt;b&gt; \\*c\\* ``--x_y`` d\\_e"


# -- the configuration reference ------------------------------------------------------------


def test_the_configuration_reference_covers_every_settings_model_and_field() -> None:
    config = _docgen("config_reference")
    rendered: dict[type[Any], str] = {}
    for section in config.SECTIONS:
        for table in config.tables(section):
            rendered[table.model] = config.render_section(section)
    missing_models = sorted(m.__name__ for m in config.settings_models() - set(rendered))
    assert missing_models == [], f"settings models not in the reference: {missing_models}"
    for model, text in rendered.items():
        docs = config.field_docs(model)
        for name in model.model_fields:
            if name in config.HIDDEN.get(model.__name__, set()):
                continue
            assert f"| `{name}` |" in text, f"{model.__name__}.{name} is not in the reference"
            assert docs.get(name), f"{model.__name__}.{name} has no docstring to show"


def test_every_section_is_on_the_configuration_page() -> None:
    config = _docgen("config_reference")
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    on_page = set(config.MARKER.findall(page))
    assert {section for section, _level in on_page} == set(config.SECTIONS)


def test_the_configuration_reference_shows_types_defaults_and_environment() -> None:
    text = _docgen("config_reference").render_section("zmq")
    row = next(line for line in text.splitlines() if line.startswith("| `sndhwm` |"))
    assert row.startswith("| `sndhwm` | integer, > 0, ≤ 2147483647<br>default: `10000` | Events")
    assert row.endswith("<br>environment: `PLUGYARD_ZMQ__SNDHWM` |")
    assert "### `[zmq.process]`" in text
    assert "`PLUGYARD_ZMQ__PROCESS__RESTART`" in text
    assert '`"never"` or `"on-failure"` or `"always"`' in text


def test_an_unknown_section_marker_is_an_error() -> None:
    with pytest.raises(ValueError, match="no such section"):
        _docgen("config_reference").on_page_markdown("<!-- plugyard:config zmqq -->\n")


# -- repository files included in the guide ---------------------------------------------------


def test_an_included_file_loses_its_title_and_keeps_working_links(tmp_path: Path) -> None:
    include = _docgen("repository_files").include
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "events.md").write_text("# Events\n")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "run.py").write_text("")
    (tmp_path / "bench" / "README.md").write_text(
        "# Bench\n\n## Run\n\nSee [events](../docs/events.md#http) and [code](run.py).\n"
        "```sh\n# a comment, not a heading\n```\n"
    )
    text = include(
        "bench/README.md", tmp_path, tmp_path / "docs", tmp_path / "docs", optional=False
    )
    assert text.splitlines() == [
        "",
        "### Run",
        "",
        "See [events](events.md#http) and code (`bench/run.py`).",
        "```sh",
        "# a comment, not a heading",
        "```",
    ]


def test_a_missing_include_fails_unless_optional(tmp_path: Path) -> None:
    include = _docgen("repository_files").include
    with pytest.raises(FileNotFoundError, match="nothere.md"):
        include("nothere.md", tmp_path, tmp_path, tmp_path, optional=False)
    assert "is not in this checkout" in include(
        "nothere.md", tmp_path, tmp_path, tmp_path, optional=True
    )
    with pytest.raises(ValueError, match="outside the repository"):
        include("../x.md", tmp_path, tmp_path, tmp_path, optional=True)


def test_benchmark_pictures_become_site_files_and_fill_the_figures_marker(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    from mkdocs.structure.files import Files

    hook = _docgen("benchmark_figures")
    (tmp_path / "docs").mkdir()
    page_file = tmp_path / "docs" / "benchmarks.md"
    page_file.write_text("# Benchmarks\n")
    config = {
        "config_file_path": str(tmp_path / "mkdocs.yml"),
        "docs_dir": str(tmp_path / "docs"),
        "site_dir": str(tmp_path / "site"),
        "use_directory_urls": True,
    }
    page = SimpleNamespace(file=SimpleNamespace(abs_src_path=str(page_file)))
    empty = hook.on_page_markdown("a\n<!-- plugyard:figures -->\nb", page=page, config=config)
    assert empty == "a\n*`benchmarks/figures` holds no pictures in this checkout.*\nb"

    pictures = tmp_path / "benchmarks" / "figures"
    pictures.mkdir(parents=True)
    for name in ("bench_pod-bulk_sqlite.png", "bench_discovery-host_start.png"):
        (pictures / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    files = hook.on_files(Files([]), config=config)
    assert sorted(f.src_uri for f in files) == [
        "figures/bench_discovery-host_start.png",
        "figures/bench_pod-bulk_sqlite.png",
    ]
    assert all(Path(f.abs_src_path).is_file() for f in files)
    text = hook.on_page_markdown("<!-- plugyard:figures -->", page=page, config=config)
    assert text.splitlines() == [
        "![bench_discovery: host_start](figures/bench_discovery-host_start.png)",
        "",
        "![bench_pod: bulk_sqlite](figures/bench_pod-bulk_sqlite.png)",
    ]


# -- the whole guide --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_guide_builds_strictly_with_every_generated_reference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    cli_page = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for path in _docgen("cli_reference").command_paths():
        assert f'id="{path.replace(" ", "-")}"' in cli_page, path
    hooks_page = (site / "hook-reference" / "index.html").read_text(encoding="utf-8")
    for name in _hook_headings():
        assert f'id="{name}"' in hooks_page, name
    config_page = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "PLUGYARD_CELERY__CANCEL_TIMEOUT" in config_page
    assert 'class="mermaid"' in (site / "index.html").read_text(encoding="utf-8")
    benchmarks = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "bench_dispatch.py" in benchmarks
    assert "<!-- plugyard:" not in cli_page + hooks_page + config_page + benchmarks


@pytest.mark.slow
def test_the_example_adapter_passes_its_own_tests(tmp_path: Path) -> None:
    page = (DOCS / "writing-an-adapter.md").read_text(encoding="utf-8")
    blocks = re.findall(r'^```\w+ title="([^"]+)"\n(.*?)^```$', page, re.MULTILINE | re.DOTALL)
    files = {name: body for name, body in blocks}
    assert set(files) == {"pyproject.toml", "src/plugyard_ticker.py", "tests/test_ticker.py"}
    for name, body in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    project = tomllib.loads(files["pyproject.toml"])["project"]
    assert project["entry-points"]["plugyard.adapters"] == {"ticker": "plugyard_ticker:adapter"}
    env = {**_clean_env(), "PYTHONPATH": str(tmp_path / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout


# -- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [*sorted(p.name for p in DOCS.glob("*.md")), "../README.md"])
def test_relative_links_point_at_files_that_exist(page: str) -> None:
    path = (DOCS / page).resolve()
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (path.parent / target).exists():
            broken.append(target)
    assert broken == [], f"{page} links to missing files: {broken}"


def test_links_that_leave_the_guide_name_the_repository_file(tmp_path: Path) -> None:
    relink = _docgen("repository_files").relink
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hooks.md").write_text("# Hooks\n")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "README.md").write_text("# Examples\n")
    page = (
        "See [the example](../examples/README.md), [hooks](hooks.md#call-order),\n"
        "[gone](../nothere.md) and [pluggy](https://pluggy.readthedocs.io).\n"
        "```markdown\n[kept](../examples/README.md)\n```"
    )
    out = relink(page, source_dir=docs, root=tmp_path, docs_dir=docs, page_dir=docs)
    assert out.split("\n") == [
        "See the example (`examples/README.md`), [hooks](hooks.md#call-order),",
        "[gone](../nothere.md) and [pluggy](https://pluggy.readthedocs.io).",
        "```markdown",
        "[kept](../examples/README.md)",
        "```",
    ]


def test_every_page_is_in_the_navigation() -> None:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)

    def pages(nav: Any) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in pages(item)]
        return [p for value in nav.values() for p in pages(value)]

    assert sorted(pages(config["nav"])) == sorted(p.name for p in DOCS.glob("*.md"))
