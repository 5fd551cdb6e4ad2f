from abc import abstractmethod
from typing import List, Optional, Union

from aiohttp import ClientSession

from classes.event import Event
from classes.schemas.event_raw import RawEvent
from crutches_on_wheels.plugins.plugins_meta.base_plugins import BaseEventPlugin
from crutches_on_wheels.utils.log import Logger
from crutches_on_wheels.web.application import LunaApplication


class BaseEventSendingPlugin(BaseEventPlugin):
    """Base class for event sending."""

    # event name for triggering callback
    eventName = "sending_event"

    @abstractmethod
    async def sendEvents(
        self,
        events: Union[List[Event], List[RawEvent]],
        handlerId: str,
        accountId: str,
        requestId: str,
        createEventTime: str,
        endEventTime: str,
        logger: Logger,
    ) -> None:
        """
        Callback that is triggered on every success request to handlers.

        Args:
            events: event list
            handlerId: handler id
            accountId: account id
            requestId: request id
            createEventTime: event creation time
            endEventTime: event end time
            logger: logger
        """

    async def handleEvent(
        self,
        events: Union[List[Event], List[RawEvent]],
        handlerId: str,
        accountId: str,
        requestId: str,
        createEventTime: str,
        endEventTime: str,
        logger: Logger,
    ):
        """
        Handle events.

        Args:
            events: event list
            handlerId: handler id
            accountId: account id
            requestId: request id
            createEventTime: event creation time
            endEventTime: event end time
            logger: logger
        """
        await self.sendEvents(events, handlerId, accountId, requestId, createEventTime, endEventTime, logger)


class EventSendingPlugin(BaseEventSendingPlugin):
    """Sends events to the third-party source. Only one instance of this class exist during the program execution."""

    def __init__(self, app: LunaApplication):
        super().__init__(app)
        self.url = "http://127.0.0.1:5020/1/buckets"
        self.session: Optional[ClientSession] = None
        self.bucket = "plugin_test_bucket"

    async def close(self):
        """Stop plugin.

        Close all open connections and etc."""
        if self.session:
            await self.session.close()

    async def initialize(self):
        """Initialize plugin."""
        self.session = ClientSession()
        async with self.session.post(f"{self.url}?bucket={self.bucket}") as resp:
            if resp.status not in (201, 409):
                response = await resp.json()
                raise RuntimeError(f"failed create bucket, {self.bucket}, response: {response}")

    async def sendEvents(
        self,
        events: Union[List[Event], List[RawEvent]],
        handlerId: str,
        accountId: str,
        requestId: str,
        createEventTime: str,
        endEventTime: str,
        logger: Logger,
    ) -> None:
        logger.debug(
            f"Plugin 'EventsOnFinishExampleClass' get events, request_id: {requestId}, "
            f"event_create_time: {createEventTime}, event_end_time: {endEventTime}"
        )
        prepareEvents = []
        for event in events:
            if isinstance(event, Event):
                serializationEvent = event.asDict()
            else:
                serializationEvent = event.asHandlerEventDict()
            prepareEvents.append(serializationEvent)

        msg = {
            "handler_id": handlerId,
            "account_id": accountId,
            "Luna-Request-Id": requestId,
            "events": prepareEvents,
            "event_create_time": createEventTime,
            "event_end_time": endEventTime,
        }
        async with ClientSession() as session:
            async with session.post(f"{self.url}/{self.bucket}/objects", json=msg) as resp:
                logger.debug(resp.status)
                logger.debug(await resp.text())
