"""Operations the custom workflows run."""

from cloudify import ctx
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError


@operation
def mark(label, **kwargs):
    props = ctx.instance.runtime_properties
    props["labels"] = [*props.get("labels", []), label]
    props["workflow"] = ctx.workflow_id


@operation
def refuse(**kwargs):
    raise NonRecoverableError("refused")
