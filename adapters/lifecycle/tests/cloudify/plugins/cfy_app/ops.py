"""Operations that record what Cloudify's context shows them, to compare two engines."""

from cloudify import ctx
from cloudify.decorators import operation


def _inputs(kwargs):
    return {k: v for k, v in kwargs.items() if k != "ctx"}


@operation
def create_host(**kwargs):
    props = ctx.instance.runtime_properties
    props["ip"] = ctx.node.properties["ip"]
    props["os_family"] = ctx.node.properties["os_family"]
    props["agent_install_method"] = ctx.node.properties["agent_config"].get("install_method")


@operation
def create_db(**kwargs):
    props = ctx.instance.runtime_properties
    props["url"] = f"db://{ctx.instance.host_ip}:5432"
    props["type_hierarchy"] = ctx.node.type_hierarchy
    props["plugin"] = [ctx.plugin.name, ctx.plugin.package_name, ctx.plugin.package_version]


@operation
def configure(greeting, own_port, db_url, **kwargs):
    props = ctx.instance.runtime_properties
    props["inputs"] = {"greeting": greeting, "own_port": own_port, "db_url": db_url}
    props["endpoint"] = dict(ctx.node.properties["endpoint"])
    props["name"] = ctx.node.properties["name"]
    props["host_ip"] = ctx.instance.host_ip
    props["operation"] = ctx.operation.name
    props["relationships"] = sorted(
        [r.type, r.target.node.id, r.type_hierarchy] for r in ctx.instance.relationships
    )


@operation
def link_source(**kwargs):
    props = ctx.source.instance.runtime_properties
    props["linked_to"] = ctx.target.node.id
    props["link_inputs"] = _inputs(kwargs)
    props["link_operation"] = ctx.operation.name
    props["context_type"] = ctx.type


@operation
def link_target(**kwargs):
    ctx.target.instance.runtime_properties["linked_from"] = [
        ctx.source.node.id,
        ctx.source.node.properties["name"],
    ]


@operation
def describe(**kwargs):
    """Record what the context says about the running operation."""
    props = ctx.instance.runtime_properties
    props["described"] = {
        "type": ctx.type,
        "node": [ctx.node.id, ctx.node.name, ctx.node.type, ctx.node.number_of_instances],
        "properties": dict(ctx.node.properties),
        "operation": [ctx.operation.name, ctx.operation.retry_number, ctx.operation.max_retries],
        "deployment": ctx.deployment.id,
        "workflow": ctx.workflow_id,
        "tenant": ctx.tenant_name,
        "plugin": [ctx.plugin.name, ctx.plugin.package_name, ctx.plugin.package_version],
        "plugin_str": str(ctx.plugin),
        "has_execution_id": bool(ctx.execution_id),
        "rendered": ctx.get_resource_and_render("resources/greeting.txt", {"who": "world"}).decode(
            "utf-8"
        ),
        "resource": ctx.get_resource("resources/greeting.txt").decode("utf-8"),
        "relationships": [r.type for r in ctx.instance.relationships],
        "runtime_is_dict": isinstance(ctx.instance.runtime_properties, dict),
        "properties_is_dict": isinstance(ctx.node.properties, dict),
    }
    try:
        ctx.node.properties["greeting"] = "changed"
    except Exception as error:
        props["set_property_error"] = type(error).__name__
    props.update({"updated_with": "update()"})
    ctx.instance.update()
