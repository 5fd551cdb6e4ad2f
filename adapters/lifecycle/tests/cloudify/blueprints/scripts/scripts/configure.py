from cloudify import ctx
from cloudify.state import ctx_parameters

ctx.instance.runtime_properties["greeting"] = ctx_parameters["greeting"]
ctx.instance.runtime_properties["node_type"] = ctx.node.type
ctx.logger.info("configured")
