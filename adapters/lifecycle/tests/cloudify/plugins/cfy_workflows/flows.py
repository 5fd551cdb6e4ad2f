"""Custom workflows written against cloudify-common's workflow API."""

from cloudify.decorators import workflow
from cloudify.workflows import ctx


@workflow
def touch(operation, label, **kwargs):
    graph = ctx.graph_mode()
    for node in ctx.nodes:
        for instance in node.instances:
            sequence = graph.sequence()
            sequence.add(
                instance.send_event(f"touching {instance.id}"),
                instance.execute_operation(operation, kwargs={"label": label}),
                instance.send_event("touched"),
            )
    graph.execute()


@workflow
def one_by_one(ctx, **kwargs):
    for node_id in sorted(node.id for node in ctx.nodes):
        for instance in ctx.get_node(node_id).instances:
            instance.execute_operation("custom.ops.mark", kwargs={"label": node_id}).get()
    ctx.send_event("all marked")


@workflow
def fail_in_graph(ctx, **kwargs):
    graph = ctx.graph_mode()
    for instance in ctx.node_instances:
        graph.add_task(instance.execute_operation("custom.ops.refuse"))
    graph.execute()
