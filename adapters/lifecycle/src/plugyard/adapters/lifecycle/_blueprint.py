"""Reading a blueprint: YAML in, a validated :class:`Blueprint` out, or a BlueprintError that
names the file, the YAML path and what was expected."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from ._datatypes import PROPERTY_KEYS, DataTypes
from ._errors import BlueprintError
from ._functions import FunctionError, evaluate
from ._imports import MappingError, did_you_mean, resolve_operation
from ._imports_dsl import ImportRefused, locate_import
from ._model import (
    INTERFACE_ALIASES,
    LIFECYCLE,
    LIFECYCLE_OPERATIONS,
    RELATIONSHIP_LIFECYCLE,
    RELATIONSHIP_OPERATIONS,
    Blueprint,
    NodeSpec,
    OperationSpec,
    PluginDecl,
    RelationshipSpec,
)
from ._workflows_dsl import parse_workflows

__all__ = ["load_blueprint", "parse_blueprint"]

ROOT_TYPE = "plugyard.nodes.Root"
ROOT_TYPES = (ROOT_TYPE, "cloudify.nodes.Root")
RELATIONSHIP_KINDS = ("depends_on", "connected_to", "contained_in")
RELATIONSHIP_ALIASES = {
    **{f"cloudify.relationships.{k}": k for k in RELATIONSHIP_KINDS},
    **{f"plugyard.relationships.{k}": k for k in RELATIONSHIP_KINDS},
}
SCRIPT_RUNNER = "script.script_runner.tasks.run"
EXECUTORS = ("central_deployment_agent", "host_agent", "process")
PLUGIN_KEYS = (
    "package_name",
    "package_version",
    "source",
    "executor",
    "install",
    "install_arguments",
    "supported_platform",
    "distribution",
    "distribution_version",
    "distribution_release",
    "properties",
    "properties_description",
)
DSL_VERSIONS = tuple(f"cloudify_dsl_1_{minor}" for minor in range(6))
TOP_KEYS = (
    "tosca_definitions_version",
    "data_types",
    "capabilities",
    "workflows",
    "groups",
    "policies",
    "policy_types",
    "policy_triggers",
    "labels",
    "blueprint_labels",
    "description",
    "imports",
    "inputs",
    "plugins",
    "node_types",
    "relationships",
    "node_templates",
    "outputs",
    "dsl_definitions",
)
OP_KEYS = (
    "implementation",
    "inputs",
    "max_retries",
    "retry_interval",
    "timeout",
    "timeout_recoverable",
    "executor",
)


def load_blueprint(
    path: str | Path,
    inputs: Mapping[str, Any] | None = None,
    *,
    plugin_source_root: Path | None = None,
) -> Blueprint:
    """Read and validate the blueprint at ``path`` with ``inputs``."""
    file = Path(path).resolve()
    raw = _Reader(file.parent).read(file)
    return parse_blueprint(raw, file, inputs, plugin_source_root=plugin_source_root)


def _load_yaml(file: Path) -> dict[str, Any]:
    import yaml  # type: ignore[import-untyped]

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise BlueprintError(str(file), "", f"cannot read blueprint: {exc.strerror}") from None
    from ._yaml import YamlLimitError, load_yaml

    try:
        data = load_yaml(text)
    except YamlLimitError as exc:
        raise BlueprintError(str(file), "", f"refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BlueprintError(str(file), where, f"not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BlueprintError(str(file), "", f"expected a mapping at the top, got {_kind(data)}")
    return data


class _Reader:
    """Reads a blueprint and its imports; each imported file is merged once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loaded: set[Path] = set()

    def read(self, file: Path) -> dict[str, Any]:
        self.loaded.add(file)
        data = _load_yaml(file)
        _check_version(data, file)
        return self.merge_imports(data, file)

    def merge_imports(self, data: dict[str, Any], file: Path) -> dict[str, Any]:
        imports = data.get("imports") or []
        if not isinstance(imports, list):
            raise BlueprintError(
                str(file), "imports", f"expected a list of files, got {_kind(imports)}"
            )
        merged = {k: v for k, v in data.items() if k != "imports"}
        for i, item in enumerate(imports):
            where = f"imports[{i}]"
            if not isinstance(item, str):
                raise BlueprintError(str(file), where, f"expected a file or URL, got {item!r}")
            try:
                target = locate_import(item, file, self.root)
            except ImportRefused as exc:
                raise BlueprintError(str(file), where, str(exc)) from None
            if target in self.loaded:
                continue
            imported = self.read(target)
            for section, value in imported.items():
                if section == "tosca_definitions_version":
                    continue
                if isinstance(value, dict) and isinstance(merged.get(section), dict):
                    clash = set(value) & set(merged[section])
                    if clash:
                        raise BlueprintError(
                            str(file),
                            f"{section}.{sorted(clash)[0]}",
                            f"defined both here and in imported {item!r}",
                        )
                    merged[section] = {**value, **merged[section]}
                elif section not in merged:
                    merged[section] = value
        return merged


def _check_version(data: dict[str, Any], file: Path) -> None:
    version_value = data.get("tosca_definitions_version")
    if version_value is not None and version_value not in DSL_VERSIONS:
        raise BlueprintError(
            str(file),
            "tosca_definitions_version",
            f"unsupported version {version_value!r} (expected one of: {', '.join(DSL_VERSIONS)})"
            + did_you_mean(str(version_value), DSL_VERSIONS),
        )


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def parse_blueprint(
    raw: dict[str, Any],
    file: Path,
    inputs: Mapping[str, Any] | None = None,
    *,
    plugin_source_root: Path | None = None,
) -> Blueprint:
    """Validate already-loaded blueprint data (see :func:`load_blueprint`)."""
    return _Parser(raw, file, plugin_source_root or file.parent).parse(dict(inputs or {}))


class _Parser:
    """One pass over a blueprint; every error goes through :meth:`fail`."""

    def __init__(self, raw: dict[str, Any], file: Path, source_root: Path) -> None:
        self.raw = raw
        self.file = file
        self.source_root = source_root
        self.inputs: dict[str, Any] = {}
        self.plugins: dict[str, PluginDecl] = {}
        self.node_types: dict[str, dict[str, Any]] = {}
        self.rel_types: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, Any] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        self._resolving: list[str] = []

    def fail(self, path: str, message: str) -> NoReturn:
        raise BlueprintError(str(self.file), path, message)

    def mapping(self, value: Any, path: str, what: str = "a mapping") -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected {what}, got {_kind(value)}")
        return value

    def check_keys(self, value: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in value:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.fail(
                    where,
                    f"unknown key (expected one of: {', '.join(allowed)})"
                    + did_you_mean(str(key), allowed),
                )

    def parse(self, given_inputs: dict[str, Any]) -> Blueprint:
        self.check_keys(self.raw, TOP_KEYS, "")
        self.cloudify = "tosca_definitions_version" in self.raw
        self.datatypes = DataTypes(
            self.mapping(self.raw.get("data_types"), "data_types"), self.fail
        )
        self.inputs = self.parse_inputs(given_inputs)
        self.plugins = self.parse_plugins()
        self.node_types = self.mapping(self.raw.get("node_types"), "node_types")
        self.rel_types = self.mapping(self.raw.get("relationships"), "relationships")
        self.templates = self.mapping(self.raw.get("node_templates"), "node_templates")
        for name in self.node_types:
            self.type_chain(name, f"node_types.{name}")
        for name in self.rel_types:
            self.relationship_chain(name, f"relationships.{name}")
        for name in self.templates:
            self.node_properties(name)
        nodes = {name: self.parse_node(name) for name in self.templates}
        self.check_cycles(nodes)
        outputs = self.parse_outputs(nodes)
        capabilities = self.parse_outputs(nodes, "capabilities")
        groups = self.parse_groups()
        workflows = parse_workflows(self.mapping(self.raw.get("workflows"), "workflows"), self)
        description = self.raw.get("description")
        return Blueprint(
            id=self.file.stem if self.file.stem != "blueprint" else self.file.parent.name,
            path=self.file,
            inputs=self.inputs,
            plugins=self.plugins,
            nodes=nodes,
            outputs=outputs,
            description=str(description) if description is not None else None,
            capabilities=capabilities,
            workflows=workflows,
            groups=groups,
        )

    # -- inputs and plugins -----------------------------------------------------------------

    def parse_inputs(self, given: dict[str, Any]) -> dict[str, Any]:
        decls = self.mapping(self.raw.get("inputs"), "inputs")
        for name in given:
            if name not in decls:
                self.fail(
                    f"inputs.{name}",
                    "unknown input given (declared: "
                    f"{', '.join(decls) or 'none'})" + did_you_mean(name, decls),
                )
        values: dict[str, Any] = {}
        for name, decl in decls.items():
            path = f"inputs.{name}"
            decl = self.mapping(decl, path)
            self.check_keys(decl, PROPERTY_KEYS, path)
            kind = decl.get("type")
            if kind is not None:
                self.datatypes.check_kind(kind, f"{path}.type")
            if name in given:
                value = given[name]
            elif "default" in decl:
                value = decl["default"]
            elif decl.get("required") is False:
                value = None
            else:
                self.fail(path, "required input is missing (give it with -i or inputs=...)")
            values[name] = self.datatypes.check(kind, value, path, decl.get("constraints"))
        return values

    def parse_plugins(self) -> dict[str, PluginDecl]:
        decls = self.mapping(self.raw.get("plugins"), "plugins")
        plugins = {}
        keys = (
            "package",
            "module",
            *PLUGIN_KEYS,
        )
        cloudify_blueprint = "tosca_definitions_version" in self.raw
        for name, decl in decls.items():
            path = f"plugins.{name}"
            if isinstance(decl, str):
                decl = {"package": decl}
            decl = self.mapping(decl, path, "a package name or a mapping")
            self.check_keys(decl, keys, path)
            explicit = decl.get("package") or decl.get("module")
            # Cloudify's mapping is plugin_name.<full python path>; plugyard's own short form
            # puts the plugin's package in front of the rest.
            cloudify_style = not explicit and (cloudify_blueprint or "executor" in decl)
            package = "" if cloudify_style else str(explicit or name)
            executor = decl.get("executor")
            if executor is not None and executor not in EXECUTORS:
                self.fail(
                    f"{path}.executor",
                    f"unknown executor {executor!r} (expected one of: {', '.join(EXECUTORS)})"
                    + did_you_mean(str(executor), EXECUTORS),
                )
            if "install" in decl and not isinstance(decl["install"], bool):
                self.fail(f"{path}.install", f"expected true or false, got {decl['install']!r}")
            source = decl.get("source")
            install = bool(decl.get("install", False))
            source_path = None
            requirement = None
            if source is not None:
                candidate = (self.source_root / str(source)).resolve()
                if install:
                    requirement = str(candidate) if candidate.exists() else str(source)
                elif candidate.is_dir():
                    source_path = candidate
                elif not cloudify_style:
                    self.fail(f"{path}.source", f"folder {str(source)!r} not found")
            arguments = decl.get("install_arguments") or ()
            if isinstance(arguments, str):
                arguments = shlex.split(arguments)
            if not isinstance(arguments, list | tuple) or not all(
                isinstance(a, str) for a in arguments
            ):
                self.fail(
                    f"{path}.install_arguments",
                    f"expected a string or a list of strings, got {arguments!r}",
                )
            package_name = decl.get("package_name")
            package_version = decl.get("package_version")
            if package_name and package_version is None:
                try:
                    package_version = version(str(package_name))
                except PackageNotFoundError:
                    package_version = None
            plugins[name] = PluginDecl(
                str(name),
                package,
                str(package_name) if package_name else None,
                str(package_version) if package_version is not None else None,
                source_path,
                install=install,
                requirement=requirement,
                install_arguments=tuple(arguments),
            )
        return plugins

    # -- types ------------------------------------------------------------------------------

    def type_chain(self, name: str, path: str) -> list[str]:
        """The type and its ancestors, nearest first, ending with the root type."""
        chain: list[str] = []
        current = name
        while current not in ROOT_TYPES:
            if current in chain:
                self.fail(path, f"derived_from forms a cycle: {' -> '.join([*chain, current])}")
            decl = self.node_types.get(current)
            if decl is None:
                known = [*self.node_types, *ROOT_TYPES]
                self.fail(path, f"unknown node type {current!r}" + did_you_mean(current, known))
            decl = self.mapping(decl, f"node_types.{current}")
            self.check_keys(
                decl,
                ("derived_from", "properties", "interfaces", "description"),
                f"node_types.{current}",
            )
            chain.append(current)
            current = str(decl.get("derived_from") or ROOT_TYPE)
            path = f"node_types.{chain[-1]}.derived_from"
        return [*chain, current]

    def relationship_chain(self, name: str, path: str) -> list[str]:
        chain: list[str] = []
        current = RELATIONSHIP_ALIASES.get(name, name)
        while current not in RELATIONSHIP_KINDS:
            if current in chain:
                self.fail(path, f"derived_from forms a cycle: {' -> '.join([*chain, current])}")
            decl = self.rel_types.get(current)
            if decl is None:
                known = [*self.rel_types, *RELATIONSHIP_KINDS]
                self.fail(
                    path, f"unknown relationship type {current!r}" + did_you_mean(current, known)
                )
            decl = self.mapping(decl, f"relationships.{current}")
            self.check_keys(
                decl,
                (
                    "derived_from",
                    "source_interfaces",
                    "target_interfaces",
                    "properties",
                    "description",
                ),
                f"relationships.{current}",
            )
            chain.append(current)
            parent = decl.get("derived_from") or "depends_on"
            current = RELATIONSHIP_ALIASES.get(parent, parent)
            path = f"relationships.{chain[-1]}.derived_from"
        chain.append(current)
        if current != "depends_on":
            chain.append("depends_on")
        return chain

    # -- node templates ---------------------------------------------------------------------

    def template(self, name: str) -> dict[str, Any]:
        path = f"node_templates.{name}"
        tpl = self.mapping(self.templates[name], path)
        self.check_keys(
            tpl,
            ("type", "properties", "interfaces", "relationships", "instances", "capabilities"),
            path,
        )
        if "type" not in tpl:
            self.fail(path, "'type' is required")
        return tpl

    def node_properties(self, name: str) -> dict[str, Any]:
        """The node's properties: type defaults, template values, inputs and references."""
        if name in self.properties:
            return self.properties[name]
        path = f"node_templates.{name}"
        if name in self._resolving:
            self.fail(path, f"get_property forms a cycle: {' -> '.join([*self._resolving, name])}")
        self._resolving.append(name)
        tpl = self.template(name)
        chain = self.type_chain(str(tpl["type"]), f"{path}.type")
        # Every node may name the agent queue its operations go to (celery executor).
        schema: dict[str, dict[str, Any]] = {"agent_queue": {"type": "string", "required": False}}
        for type_name in reversed(chain[:-1]):
            decls = self.mapping(
                self.node_types[type_name].get("properties"), f"node_types.{type_name}.properties"
            )
            for prop, decl in decls.items():
                ppath = f"node_types.{type_name}.properties.{prop}"
                decl = self.mapping(decl, ppath)
                self.check_keys(decl, PROPERTY_KEYS, ppath)
                if decl.get("type") is not None:
                    self.datatypes.check_kind(decl["type"], f"{ppath}.type")
                schema[prop] = {**schema.get(prop, {}), **decl}
        given = self.mapping(tpl.get("properties"), f"{path}.properties")
        values: dict[str, Any] = {}
        for prop, value in given.items():
            if prop not in schema:
                self.fail(
                    f"{path}.properties.{prop}",
                    f"type {chain[0]!r} declares no property {prop!r} (declared: "
                    f"{', '.join(schema) or 'none'})" + did_you_mean(prop, schema),
                )
            values[prop] = self.evaluate(value, f"{path}.properties.{prop}", name)
        for prop, decl in schema.items():
            ppath = f"{path}.properties.{prop}"
            if prop not in values:
                if "default" in decl:
                    values[prop] = self.evaluate(decl["default"], ppath, name)
                elif decl.get("required", True):
                    self.fail(ppath, f"required property of type {chain[0]!r} is missing")
                else:
                    continue
            values[prop] = self.datatypes.check(
                decl.get("type"), values[prop], ppath, decl.get("constraints")
            )
        self._resolving.pop()
        self.properties[name] = values
        return values

    def evaluate(self, value: Any, path: str, self_node: str) -> Any:
        try:
            return evaluate(value, _StaticFunctions(self, self_node), path)
        except FunctionError as exc:
            self.fail(exc.where, exc.message)

    def parse_node(self, name: str) -> NodeSpec:
        path = f"node_templates.{name}"
        tpl = self.template(name)
        chain = self.type_chain(str(tpl["type"]), f"{path}.type")
        operations: dict[str, OperationSpec] = {}
        for type_name in reversed(chain[:-1]):
            interfaces = self.node_types[type_name].get("interfaces")
            operations.update(
                self.parse_interfaces(
                    interfaces, f"node_types.{type_name}.interfaces", LIFECYCLE, operations
                )
            )
        operations.update(
            self.parse_interfaces(
                tpl.get("interfaces"), f"{path}.interfaces", LIFECYCLE, operations
            )
        )
        instances = self.mapping(tpl.get("instances"), f"{path}.instances")
        self.check_keys(instances, ("deploy",), f"{path}.instances")
        deploy_path = f"{path}.instances.deploy"
        deploy = instances.get("deploy", 1)
        scalable = self.scalable(tpl, path)
        if "default_instances" in scalable:
            if "deploy" in instances:
                self.fail(deploy_path, "give either instances.deploy or default_instances")
            deploy_path = f"{path}.capabilities.scalable.properties.default_instances"
            deploy = scalable["default_instances"]
        deploy = self.evaluate(deploy, deploy_path, name)
        if isinstance(deploy, bool) or not isinstance(deploy, int) or deploy < 0:
            self.fail(deploy_path, f"expected a whole number >= 0, got {deploy!r}")
        from ._plan import max_instances

        if deploy > max_instances():
            self.fail(
                deploy_path,
                f"{deploy} instances is over the limit of {max_instances()} "
                "([lifecycle] max_instances)",
            )
        return NodeSpec(
            id=name,
            type=chain[0],
            type_hierarchy=tuple(reversed(chain)),
            properties=self.node_properties(name),
            operations=operations,
            relationships=self.parse_relationships(name, tpl.get("relationships"), path),
            deploy=deploy,
        )

    def scalable(self, tpl: dict[str, Any], path: str) -> dict[str, Any]:
        """A node template's ``capabilities.scalable.properties``."""
        caps = self.mapping(tpl.get("capabilities"), f"{path}.capabilities")
        self.check_keys(caps, ("scalable",), f"{path}.capabilities")
        spath = f"{path}.capabilities.scalable"
        scalable = self.mapping(caps.get("scalable"), spath)
        self.check_keys(scalable, ("properties",), spath)
        props = self.mapping(scalable.get("properties"), f"{spath}.properties")
        self.check_keys(
            props,
            ("default_instances", "min_instances", "max_instances", "current_instances"),
            f"{spath}.properties",
        )
        return props

    def parse_interfaces(
        self,
        value: Any,
        path: str,
        standard: str,
        inherited: dict[str, OperationSpec] | None = None,
    ) -> dict[str, OperationSpec]:
        """Operations declared at ``path``; one given only ``inputs`` keeps the inherited
        implementation and adds its inputs."""
        interfaces = self.mapping(value, path)
        inherited = inherited or {}
        ops: dict[str, OperationSpec] = {}
        for iname, iops in interfaces.items():
            ipath = f"{path}.{iname}"
            interface = INTERFACE_ALIASES.get(iname, iname)
            known = {
                LIFECYCLE: LIFECYCLE_OPERATIONS,
                RELATIONSHIP_LIFECYCLE: RELATIONSHIP_OPERATIONS,
            }.get(interface)
            if standard == RELATIONSHIP_LIFECYCLE and interface == LIFECYCLE:
                self.fail(ipath, "relationship interfaces use 'relationship_lifecycle'")
            for op_name, mapping in self.mapping(iops, ipath).items():
                opath = f"{ipath}.{op_name}"
                if known is not None and op_name not in known:
                    self.fail(
                        opath,
                        f"unknown {interface} operation {op_name!r} (expected one of: "
                        f"{', '.join(known)})" + did_you_mean(op_name, known),
                    )
                full = f"{interface}.{op_name}"
                spec = self.parse_operation(full, mapping, opath, inherited.get(full))
                if spec is not None:
                    ops[spec.name] = spec
        return ops

    def parse_operation(
        self, name: str, value: Any, path: str, inherited: OperationSpec | None = None
    ) -> OperationSpec | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = {"implementation": value}
        decl = self.mapping(value, path, "an operation name or a mapping with 'implementation'")
        self.check_keys(decl, OP_KEYS, path)
        impl = decl.get("implementation")
        inputs = self.operation_inputs(decl.get("inputs"), f"{path}.inputs")
        if not impl:
            if inherited is not None and inputs:
                return dataclasses.replace(inherited, inputs={**inherited.inputs, **inputs})
            return None
        if not isinstance(impl, str):
            self.fail(f"{path}.implementation", f"expected plugin.module.function, got {impl!r}")
        script = self.script_shorthand(impl)
        if script is not None:
            impl, inputs = SCRIPT_RUNNER, {"script_path": script, **inputs}
        try:
            plugin, func = resolve_operation(impl, self.plugins)
        except MappingError as exc:
            hint = (
                " (the script plugin comes with cloudify-common)" if impl == SCRIPT_RUNNER else ""
            )
            self.fail(path, str(exc) + hint)
        if inherited is not None and inherited.implementation == impl:
            inputs = {**inherited.inputs, **inputs}
        return OperationSpec(
            name=name,
            implementation=impl,
            plugin=plugin,
            function=func,
            inputs=inputs,
            max_retries=self.number(decl, "max_retries", path, int, minimum=-1),
            retry_interval=self.number(decl, "retry_interval", path, float, minimum=0),
            timeout=self.number(decl, "timeout", path, float, minimum=0),
            timeout_recoverable=bool(decl.get("timeout_recoverable", False)),
            where=path,
        )

    def script_shorthand(self, impl: str) -> str | None:
        """``scripts/create.sh`` as an operation: a script in the blueprint's folder, run by
        the script plugin (when the blueprint declares one named ``script``)."""
        if impl.split(".", 1)[0] in self.plugins or "script" not in self.plugins:
            return None
        folder = self.file.parent
        candidate = (folder / impl).resolve()
        if folder not in candidate.parents or not candidate.is_file():
            return None
        return impl

    def operation_inputs(self, value: Any, path: str) -> dict[str, Any]:
        """Operation inputs; in a type of a Cloudify blueprint they are declarations
        (``{type, default, description}``) whose defaults are the values."""
        inputs = self.mapping(value, path)
        type_level = path.startswith(("node_types.", "relationships."))
        if not (self.cloudify and type_level):
            return inputs
        values: dict[str, Any] = {}
        for key, decl in inputs.items():
            ipath = f"{path}.{key}"
            decl = self.mapping(decl, ipath, "an input declaration ({type, default, ...})")
            self.check_keys(decl, PROPERTY_KEYS, ipath)
            if "default" in decl:
                values[key] = self.datatypes.check(decl.get("type"), decl["default"], ipath)
        return values

    def number(
        self, decl: dict[str, Any], key: str, path: str, kind: type, *, minimum: float
    ) -> Any:
        value = decl.get(key)
        if value is None:
            return None
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or (kind is int and not isinstance(value, int)) or value < minimum:
            what = "a whole number" if kind is int else "a number"
            self.fail(f"{path}.{key}", f"expected {what} >= {minimum:g}, got {value!r}")
        return kind(value)

    def parse_relationships(self, name: str, value: Any, path: str) -> tuple[RelationshipSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(f"{path}.relationships", f"expected a list, got {_kind(value)}")
        rels = []
        hosts = 0
        for i, item in enumerate(value):
            rpath = f"{path}.relationships[{i}]"
            item = self.mapping(item, rpath)
            self.check_keys(
                item,
                ("type", "target", "source_interfaces", "target_interfaces", "properties"),
                rpath,
            )
            target = item.get("target")
            if target not in self.templates:
                self.fail(
                    f"{rpath}.target",
                    f"unknown node template {target!r}" + did_you_mean(str(target), self.templates),
                )
            if target == name:
                self.fail(f"{rpath}.target", "a node cannot relate to itself")
            rtype = str(item.get("type") or "depends_on")
            chain = self.relationship_chain(rtype, f"{rpath}.type")
            kind = next(k for k in chain if k in RELATIONSHIP_KINDS)
            hosts += kind == "contained_in"
            if hosts > 1:
                self.fail(rpath, "a node can be contained_in only one other node")
            source_ops: dict[str, OperationSpec] = {}
            target_ops: dict[str, OperationSpec] = {}
            for type_name in reversed(chain):
                decl = self.rel_types.get(type_name) or {}
                tpath = f"relationships.{type_name}"
                source_ops.update(
                    self.parse_interfaces(
                        decl.get("source_interfaces"),
                        f"{tpath}.source_interfaces",
                        RELATIONSHIP_LIFECYCLE,
                        source_ops,
                    )
                )
                target_ops.update(
                    self.parse_interfaces(
                        decl.get("target_interfaces"),
                        f"{tpath}.target_interfaces",
                        RELATIONSHIP_LIFECYCLE,
                        target_ops,
                    )
                )
            source_ops.update(
                self.parse_interfaces(
                    item.get("source_interfaces"),
                    f"{rpath}.source_interfaces",
                    RELATIONSHIP_LIFECYCLE,
                    source_ops,
                )
            )
            target_ops.update(
                self.parse_interfaces(
                    item.get("target_interfaces"),
                    f"{rpath}.target_interfaces",
                    RELATIONSHIP_LIFECYCLE,
                    target_ops,
                )
            )
            rels.append(
                RelationshipSpec(rtype, kind, str(target), tuple(chain), source_ops, target_ops)
            )
        return tuple(rels)

    def check_cycles(self, nodes: dict[str, NodeSpec]) -> None:
        state: dict[str, int] = {}

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*trail[trail.index(name) :], name]
                self.fail(
                    f"node_templates.{name}.relationships",
                    f"relationships form a cycle: {' -> '.join(cycle)}",
                )
            state[name] = 1
            for rel in nodes[name].relationships:
                visit(rel.target, [*trail, name])
            state[name] = 2

        for name in nodes:
            visit(name, [])

    def parse_groups(self) -> dict[str, tuple[str, ...]]:
        groups = self.mapping(self.raw.get("groups"), "groups")
        parsed: dict[str, tuple[str, ...]] = {}
        for name, decl in groups.items():
            path = f"groups.{name}"
            decl = self.mapping(decl, path)
            self.check_keys(decl, ("members", "policies"), path)
            members = decl.get("members") or []
            if not isinstance(members, list) or not members:
                self.fail(f"{path}.members", "expected a non-empty list of node templates")
            for member in members:
                if member not in self.templates and member not in groups:
                    self.fail(
                        f"{path}.members",
                        f"unknown node template or group {member!r}"
                        + did_you_mean(str(member), [*self.templates, *groups]),
                    )
            parsed[str(name)] = tuple(str(m) for m in members)
        return parsed

    def parse_outputs(self, nodes: dict[str, NodeSpec], section: str = "outputs") -> dict[str, Any]:
        outputs = self.mapping(self.raw.get(section), section)
        parsed: dict[str, Any] = {}
        for name, decl in outputs.items():
            path = f"{section}.{name}"
            decl = self.mapping(decl, path)
            self.check_keys(decl, ("value", "description"), path)
            parsed[name] = self.evaluate(decl.get("value"), f"{path}.value", "")
        return parsed


class _StaticFunctions:
    """Function lookups while reading: inputs and properties; attributes wait for run time."""

    def __init__(self, parser: _Parser, self_node: str) -> None:
        self.parser = parser
        self.self_node = self_node

    def get_input(self, name: str, where: str) -> Any:
        if name not in self.parser.inputs:
            raise FunctionError(
                where,
                f"get_input: unknown input {name!r} (declared: "
                f"{', '.join(self.parser.inputs) or 'none'})"
                + did_you_mean(name, self.parser.inputs),
            )
        return self.parser.inputs[name]

    def _node(self, node: str, where: str, function: str) -> str:
        if node == "SELF" and self.self_node:
            return self.self_node
        if node in ("SELF", "SOURCE", "TARGET"):
            raise LookupError(node)
        if node not in self.parser.templates:
            raise FunctionError(
                where,
                f"{function}: unknown node template {node!r}"
                + did_you_mean(node, self.parser.templates),
            )
        return node

    def get_property(self, node: str, path: list[Any], where: str) -> Any:
        try:
            name = self._node(node, where, "get_property")
        except LookupError:
            return {"get_property": [node, *path]}
        props = self.parser.node_properties(name)
        value: Any = props
        for key in path:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                raise FunctionError(
                    where,
                    f"get_property: node {name!r} has no property {key!r}"
                    + did_you_mean(str(key), props),
                ) from None
        return value

    def get_attribute(self, node: str, path: list[Any], where: str) -> Any:
        try:
            self._node(node, where, "get_attribute")
        except LookupError:
            pass
        raise LookupError(node)

    def get_secret(self, key: str, path: list[Any], where: str) -> Any:
        raise LookupError(key)
