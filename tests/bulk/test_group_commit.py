"""The senders' shared intent transaction (executor.GroupCommit), with threads and a slow commit."""

import threading
import time

import pytest

from provisioning.bulk.executor import GroupCommit


def run_writers(group, items):
    errors = {}

    def write(item):
        try:
            group.write(item)
        except Exception as exc:
            errors[item] = exc

    threads = [threading.Thread(target=write, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return errors


def test_writers_that_arrive_together_share_commits_and_each_is_committed_once():
    batches = []

    def commit(batch):
        time.sleep(0.05)  # a slow transaction: the others queue up behind it
        batches.append(list(batch))

    items = [object() for _ in range(8)]
    errors = run_writers(GroupCommit(commit), items)

    assert errors == {}
    committed = [item for batch in batches for item in batch]
    assert sorted(map(id, committed)) == sorted(map(id, items))  # every item, once
    assert len(batches) < len(items)  # and fewer transactions than items


def test_a_failed_commit_is_raised_to_every_writer_of_its_batch_only():
    calls = []

    def commit(batch):
        calls.append(len(batch))
        time.sleep(0.05)
        if len(calls) == 1:
            raise RuntimeError("the database refused")

    group = GroupCommit(commit)
    first = object()
    errors = run_writers(group, [first])
    assert isinstance(errors[first], RuntimeError)

    later = [object() for _ in range(4)]
    assert run_writers(group, later) == {}  # the next batches commit normally
    assert group.queue == [] and group.results == {}


def test_a_lone_writer_commits_alone():
    batches = []
    group = GroupCommit(batches.append)
    item = object()
    group.write(item)
    assert batches == [[item]]


@pytest.mark.parametrize("count", [1, 5])
def test_nothing_is_left_behind(count):
    group = GroupCommit(lambda batch: None)
    assert run_writers(group, [object() for _ in range(count)]) == {}
    assert group.queue == [] and group.results == {}
