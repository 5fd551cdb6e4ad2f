"""Operations that fail the ways Cloudify distinguishes: recoverable, a requested retry,
and not recoverable. Each counts its attempts in a runtime property."""

from cloudify import ctx
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError, RecoverableError


def _attempt():
    props = ctx.instance.runtime_properties
    props["attempts"] = props.get("attempts", 0) + 1
    props["retry_numbers"] = [*props.get("retry_numbers", []), ctx.operation.retry_number]


@operation
def recover_twice(**kwargs):
    _attempt()
    if ctx.operation.retry_number < 2:
        raise RecoverableError("not ready yet", retry_after=0.05)
    ctx.instance.runtime_properties["recovered"] = True


@operation
def ask_retry(**kwargs):
    _attempt()
    if ctx.operation.retry_number < 2:
        return ctx.operation.retry(message="still waiting", retry_after=0.05)
    ctx.instance.runtime_properties["done"] = True


@operation(resumable=True)
def fail_hard(**kwargs):
    _attempt()
    raise NonRecoverableError("cannot continue")


@operation
def fail_unless_resumed(**kwargs):
    ctx.instance.runtime_properties["seen_resume"] = [
        *ctx.instance.runtime_properties.get("seen_resume", []),
        ctx.resume,
    ]
    if not ctx.resume:
        raise NonRecoverableError("only a resumed execution gets through")
