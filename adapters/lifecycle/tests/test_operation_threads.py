"""The threads plain operations run on: results and errors reach the loop, at most
``max_workers`` calls run at once, and a call cancelled before it starts is never made."""

from __future__ import annotations

import asyncio
import threading

import pytest

from plugyard.adapters.lifecycle._threads import OperationThreads

DEADLINE = 30.0


def test_results_and_errors_reach_the_loop_from_named_threads() -> None:
    threads = OperationThreads(4, "lifecycle-named")

    def boom() -> None:
        raise KeyError("missing")

    async def main() -> tuple[list[str], BaseException | None]:
        names = await asyncio.gather(
            *(threads.run(lambda: threading.current_thread().name) for _ in range(200))
        )
        try:
            await threads.run(boom)
        except KeyError as error:
            return names, error
        return names, None

    names, error = asyncio.run(main())
    threads.shutdown()
    assert len(names) == 200
    assert all(name.startswith("lifecycle-named_") for name in names)
    assert isinstance(error, KeyError)


def test_no_more_than_max_workers_calls_run_at_once() -> None:
    threads = OperationThreads(2, "lifecycle-bounded")
    running: list[int] = []
    most = [0]
    lock = threading.Lock()
    release = threading.Event()

    def hold() -> None:
        with lock:
            running.append(1)
            most[0] = max(most[0], len(running))
        release.wait(DEADLINE)
        with lock:
            running.pop()

    async def main() -> None:
        calls = [threads.run(hold) for _ in range(6)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while len(running) < 2:
            assert loop.time() < deadline, "two calls did not start"
            await asyncio.sleep(0.001)
        release.set()
        await asyncio.gather(*calls)

    asyncio.run(main())
    threads.shutdown()
    assert most[0] == 2


def test_a_call_cancelled_before_it_starts_is_never_made() -> None:
    threads = OperationThreads(1, "lifecycle-cancel")
    started, release = threading.Event(), threading.Event()
    made: list[str] = []

    def hold() -> None:
        started.set()
        release.wait(DEADLINE)

    async def main() -> None:
        first = threads.run(hold)
        assert await asyncio.to_thread(started.wait, DEADLINE)
        second = threads.run(lambda: made.append("second"))
        second.cancel()
        release.set()
        await first
        await threads.run(lambda: made.append("third"))

    asyncio.run(main())
    threads.shutdown()
    assert made == ["third"]


def test_it_is_an_executor_for_other_work_and_refuses_calls_after_shutdown() -> None:
    threads = OperationThreads(2, "lifecycle-executor")

    async def main() -> int:
        return await asyncio.get_running_loop().run_in_executor(threads, sum, [1, 2, 3])

    assert asyncio.run(main()) == 6
    assert threads.submit(pow, 2, 5).result(DEADLINE) == 32
    threads.shutdown(wait=True)
    with pytest.raises(RuntimeError, match="stopped"):
        threads.submit(pow, 2, 5)
