"""The batch runner's per-person cap counts model slots: a line whose answer is written but still being saved has
left the model, so the next line may start beside it; a line on the model, here or in a live process, holds its
slot."""

import pytest

from batches import runner
from batches.models import Batch, BatchLine
from core import liveness
from tests.factories import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(owner, settings) -> Batch:
    settings.BATCH_CONCURRENCY_PER_USER = 2
    liveness._renew()  # alive, as the runner keeps itself: lines held by a process that is not are taken over
    batch = make_batch(owner)
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.IN_PROGRESS)
    BatchLine.objects.bulk_create(
        BatchLine(batch=batch, number=number, custom_id=f"c{number}", body={}) for number in range(1, 6)
    )
    return batch


def test_it_claims_no_more_lines_than_the_cap(batch):
    claimed = runner.claim(batch.pk, 5)
    assert [line.number for line in claimed] == [1, 2]
    assert all(line.worker == liveness.PROCESS_ID and line.attempts == 1 for line in claimed)
    assert runner.claim(batch.pk, 1) == [], "both slots are held"
    ahead = runner.claim(batch.pk, 5, ahead=1)
    assert [line.number for line in ahead] == [3], "one line may wait, claimed, for the next free slot"
    assert runner.claim(batch.pk, 5, ahead=1) == []


def test_a_line_whose_answer_is_being_saved_frees_its_slot(batch):
    first, second = runner.claim(batch.pk, 2)
    refill = runner.claim(batch.pk, 1, off_model=[first.pk])
    assert [line.number for line in refill] == [3]
    assert runner.claim(batch.pk, 1, off_model=[first.pk]) == [], "the second and third lines hold the slots"
    assert BatchLine.objects.get(pk=first.pk).state == BatchLine.State.RUNNING, "still its holder's to record"
    assert runner.record(first, 200, {"ok": True}, None)
    assert runner.claim(batch.pk, 1) == []
    runner.record(second, 200, {"ok": True}, None)
    assert [line.number for line in runner.claim(batch.pk, 2)] == [4]
