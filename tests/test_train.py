"""The train stage: learning, outputs, resume after a kill (locally and on S3), broken
checkpoints, DDP, the Prefect task's retry, and sampling from a committed run."""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import tasks.train_loop as train_loop
from models.checkpoint import checkpoint_name, sidecar_name
from storage import OutputState, StorageConfig, Store
from tasks.stage import PermanentError
from tasks.train import TRAIN, ModelSettings, TrainSettings, find_train_output, train_job
from tasks.trained import sample_text

pytest.register_assert_rewrite("tests.tokens_fixture")  # imported here before pytest loads it as a plugin
from tests.tokens_fixture import LEARN, TokenData, quick_job  # noqa: E402

# The token fixtures (built once a session) come from a plugin module, not conftest.py.

REPO = Path(__file__).resolve().parent.parent


class Killed(RuntimeError):
    """Stands for the process being killed after a step."""


def kill_after(monkeypatch, at: int, steps_seen: list[int] | None = None, times: int = 1) -> None:
    remaining = [times]

    def hook(step: int) -> None:
        if steps_seen is not None:
            steps_seen.append(step)
        if step == at and remaining[0] > 0:
            remaining[0] -= 1
            raise Killed(f"killed after step {step}")

    monkeypatch.setattr(train_loop, "_after_step", hook)


def losses(data: TokenData, ref) -> list[float]:
    table = pq.read_table(Store(data.storage).path(ref.path("metrics.parquet")))
    assert table.column("step").to_pylist() == list(range(1, len(table) + 1))
    return table.column("loss").to_pylist()


def val_losses(data: TokenData, ref) -> dict[int, float]:
    table = pq.read_table(Store(data.storage).path(ref.path("metrics.parquet"))).to_pylist()
    return {r["step"]: r["val_loss"] for r in table if r["val_loss"] is not None}


@pytest.fixture(scope="module")
def reference(token_root, tmp_path_factory) -> list[float]:
    """Losses of the quick run, uninterrupted."""
    root, tokenizer_ref, token_refs = token_root
    store = tmp_path_factory.mktemp("reference") / "store"
    shutil.copytree(root, store)
    data = TokenData(StorageConfig(root=str(store)), tokenizer_ref, token_refs)
    return losses(data, TRAIN.run(quick_job(data)))


def test_the_tiny_model_learns_and_the_run_is_committed(trained_run):
    data, ref = trained_run.data, trained_run.ref
    store = Store(data.storage)
    curve = losses(data, ref)
    assert len(curve) == LEARN["steps"] and all(math.isfinite(x) for x in curve)
    assert curve[0] > math.log(1024) - 0.3  # starts at a uniform guess
    assert sum(curve[-10:]) / 10 < curve[0] - 1.0, curve  # and falls clearly
    assert val_losses(data, ref)[LEARN["steps"]] < math.log(1024) - 0.8
    assert set(ref.files) == {checkpoint_name(40), sidecar_name(40), checkpoint_name(80), sidecar_name(80),
                              "metrics.parquet", "loss.png", "samples.txt", "tokenizer.json"}
    assert (store.read_bytes(ref.path("loss.png"))[:8]) == b"\x89PNG\r\n\x1a\n"
    assert store.read_bytes(ref.path("samples.txt")).decode().count("--- prompt") == 2
    assert ref.counts["steps"] == 80 and ref.counts["tokens"] == 80 * 1024
    assert store.output("train", ref.key).state() == OutputState.COMMITTED
    assert TRAIN.run(quick_job(data, **LEARN)).reused  # same job: found done


def test_sample_from_a_committed_run(trained_run):
    store = Store(trained_run.data.storage)
    text = sample_text(store, trained_run.ref, "The", max_new_tokens=12, seed=1)
    assert text.startswith("The") and len(text) > 3
    assert text == sample_text(store, None, "The", max_new_tokens=12, seed=1)  # None: the newest run
    assert find_train_output(store, trained_run.ref.key).key == trained_run.ref.key
    with pytest.raises(FileNotFoundError, match="not a committed train output"):
        find_train_output(store, "0000000000000000")


def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(token_data, reference, monkeypatch, caplog):
    job = quick_job(token_data)
    seen: list[int] = []
    kill_after(monkeypatch, 7, seen)
    with pytest.raises(Killed):
        TRAIN.run(job)
    output = TRAIN.output(job)
    assert output.state() == OutputState.FAILED
    with caplog.at_level(logging.INFO, logger="fineflow.train"):
        ref = TRAIN.run(job)
    assert seen == [1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 10, 11, 12]  # continued after the checkpoint of step 4
    assert "resuming at step 4 of 12" in caplog.text
    assert losses(token_data, ref) == pytest.approx(reference, rel=1e-6, abs=1e-6)
    assert checkpoint_name(4) not in ref.files  # superseded: two newest kept
    assert {checkpoint_name(8), checkpoint_name(12)} <= set(ref.files)


def damage_checkpoint(store: Store, folder: str, step: int, damage: str) -> None:
    name = f"{folder}/{checkpoint_name(step)}"
    if damage == "corrupt":
        data = bytearray(store.read_bytes(name))
        data[len(data) // 2] ^= 0xFF
        store.fs.pipe_file(store.path(name), bytes(data))
    elif damage == "truncated":
        store.fs.pipe_file(store.path(name), store.read_bytes(name)[:100])
    elif damage == "missing":
        store.rm(name)
    else:  # "incomplete": killed while writing it, so the sidecar that completes it never came
        store.rm(f"{folder}/{sidecar_name(step)}")


REASONS = {"corrupt": "is corrupt: sha256", "truncated": "is corrupt: 100 bytes", "missing": "is missing",
           "incomplete": "is incomplete"}


@pytest.mark.parametrize("damage", list(REASONS))
def test_a_broken_checkpoint_is_reported_and_the_one_before_loaded(damage, caplog):
    import torch

    from models.checkpoint import load_latest, save_checkpoint

    store = Store("memory://checkpoints-" + damage)
    writer = store.output("train", "k").begin()
    for step in (1, 2, 3):
        save_checkpoint(writer, step, {"format": 1, "step": step, "w": torch.full((100,), float(step))})
    damage_checkpoint(store, "train/k", 3, damage)
    with caplog.at_level(logging.WARNING):
        state, info, bad = load_latest(store, "train/k")
    assert info.step == 2 and bad == [3] and torch.equal(state["w"], torch.full((100,), 2.0))
    line = next(r.getMessage() for r in caplog.records if "checkpoint of step 3 not used" in r.getMessage())
    assert REASONS[damage] in line and store.uri(f"train/k/{checkpoint_name(3)}") in line
    assert "resuming from checkpoint of step 2, the newest good one" in caplog.text
    for step in (1, 2):
        damage_checkpoint(store, "train/k", step, damage)
    assert load_latest(store, "train/k") == (None, None, [3, 2, 1])


def test_training_continues_from_the_last_good_checkpoint(token_data, reference, monkeypatch, caplog):
    job = quick_job(token_data)
    kill_after(monkeypatch, 10)
    with pytest.raises(Killed):
        TRAIN.run(job)
    damage_checkpoint(Store(token_data.storage), TRAIN.output(job).dir, 8, "corrupt")
    with caplog.at_level(logging.INFO):
        ref = TRAIN.run(job)
    assert "checkpoint of step 8 not used" in caplog.text and "resuming at step 4 of 12" in caplog.text
    assert losses(token_data, ref) == pytest.approx(reference, rel=1e-6, abs=1e-6)
    assert checkpoint_name(8) in ref.files  # written again, good this time


def test_no_good_checkpoint_starts_over(token_data, reference, monkeypatch, caplog):
    job = quick_job(token_data, checkpoint_every=0)
    kill_after(monkeypatch, 5)
    with pytest.raises(Killed):
        TRAIN.run(job)
    assert not any(n.startswith("checkpoint-") for n in Store(token_data.storage).listdir(TRAIN.output(job).dir))
    ref = TRAIN.run(job)
    assert losses(token_data, ref) == pytest.approx(reference, rel=1e-6, abs=1e-6)


def test_ddp_with_two_processes_matches_one_process(token_data, reference):
    # One process: 4 sequences per step (QUICK). Two processes: 2 each, same global batch.
    ref = TRAIN.run(quick_job(token_data, processes=2, micro_batch_size=2))
    assert losses(token_data, ref) == pytest.approx(reference, rel=1e-4, abs=1e-4)
    assert ref.counts["steps"] == 12 and {"metrics.parquet", checkpoint_name(12)} <= set(ref.files)
    assert Store(token_data.storage).output("train", ref.key).committed().extra["processes"] == 2


def test_a_failed_ddp_process_is_named_in_the_error(token_data):
    no_train_shards = quick_job(token_data, processes=2).model_copy(update={"sources": [token_data.tokenizer]})
    with pytest.raises(PermanentError) as failed:
        TRAIN.run(no_train_shards)
    message = str(failed.value)
    # the processes' own error, not only torchrun's summary
    assert message.startswith("torchrun exited with 1: ") and "no train-*.parquet token shards" in message
    assert "exitcode" in message and not TRAIN.output(no_train_shards).committed()


DDP_EXIT_PROBE = """
import atexit, sys
import tasks.train_ddp as ddp
def main(argv=None):
    print("trained", end="")  # waits in stdout's buffer
    {ending}
ddp.main = main
atexit.register(print, " exit handler", end="")
ddp.run_and_exit()
"""


@pytest.mark.parametrize(("ending", "status", "stderr"), [
    ("return 0", 0, ""), ("return 3", 3, ""), ("raise SystemExit(2)", 2, ""),
    ("raise ValueError('the job is bad')", 1, "ValueError: the job is bad")])
def test_a_ddp_process_ends_with_mains_status_without_the_teardown(ending, status, stderr):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout to a pipe: buffered
    out = subprocess.run([sys.executable, "-c", DDP_EXIT_PROBE.format(ending=ending)], capture_output=True,
                         text=True, timeout=120, env=env, cwd=REPO)
    # Flushed, but no exit handler and no teardown ran: where gloo's threads aborted the process.
    assert (out.returncode, out.stdout) == (status, "trained"), out
    assert stderr in out.stderr and ("Traceback" in out.stderr) == bool(stderr), out.stderr


def test_output_key_follows_what_is_trained(token_data):
    job = quick_job(token_data)
    how = quick_job(token_data, micro_batch_size=2, eval_every=1, checkpoint_every=1, processes=2, device="cpu",
                    compile=True, sample_prompts=["x"], log_every=1, keep_checkpoints=5)
    assert TRAIN.key(job) == TRAIN.key(how)
    assert TRAIN.key(job) != TRAIN.key(quick_job(token_data, steps=13))
    assert TRAIN.key(job) != TRAIN.key(quick_job(token_data, lr=1e-3))
    swapped = train_job(token_data.storage, list(reversed(token_data.tokens)), token_data.tokenizer,
                        ModelSettings(preset="tiny"), job.train)
    assert TRAIN.key(swapped) == TRAIN.key(job)  # the order tokenize shards finish in does not matter
    bigger = train_job(token_data.storage, token_data.tokens, token_data.tokenizer,
                       ModelSettings(preset="tiny", n_layer=3), job.train)
    assert TRAIN.key(bigger) != TRAIN.key(job)
    with pytest.raises(ValueError, match="extra"):
        TrainSettings(learning_rate=1.0)


def test_missing_inputs_fail_permanently(token_data):
    no_tokenizer = quick_job(token_data).model_copy(update={"sources": token_data.tokens})
    with pytest.raises(PermanentError, match="exactly one tokenizer"):
        TRAIN.run(no_tokenizer)
    only_tokenizer = quick_job(token_data).model_copy(update={"sources": [token_data.tokenizer]})
    with pytest.raises(PermanentError, match="no train-"):
        TRAIN.run(only_tokenizer)


@pytest.mark.usefixtures("prefect_api")
def test_prefect_retry_resumes_from_the_checkpoint(token_data, reference, monkeypatch):
    from prefect import flow

    from tasks.stage import for_storage
    from tasks.train import train_task

    job = quick_job(token_data)
    seen: list[int] = []
    kill_after(monkeypatch, 6, seen)

    @flow
    def one_run():
        return for_storage(train_task, token_data.storage, retries=1, retry_delay_seconds=0)(job)

    ref = one_run()
    assert seen == [1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10, 11, 12]
    assert losses(token_data, ref) == pytest.approx(reference, rel=1e-6, abs=1e-6)
    state = one_run(return_state=True)  # a later run finds it cached
    assert state.is_completed() and seen[-1] == 12 and len(seen) == 14


def test_on_s3_a_killed_run_resumes_from_its_checkpoint(token_root, reference, s3_endpoint, s3_bucket, monkeypatch):
    root, tokenizer_ref, token_refs = token_root
    storage = StorageConfig(root=f"s3://{s3_bucket}/runs", endpoint_url=s3_endpoint)
    store = Store(storage)
    for ref in (tokenizer_ref, *token_refs):
        for path in (root / ref.dir).iterdir():
            store.fs.put_file(str(path), store.path(f"{ref.dir}/{path.name}"))
    data = TokenData(storage, tokenizer_ref, token_refs)
    job = quick_job(data)
    kill_after(monkeypatch, 7)
    with pytest.raises(Killed):
        TRAIN.run(job)
    ref = TRAIN.run(job)
    assert ref.uri.startswith("s3://") and checkpoint_name(12) in ref.files
    with store.open(ref.path("metrics.parquet")) as f:
        assert pq.read_table(f).column("loss").to_pylist() == pytest.approx(reference, rel=1e-6, abs=1e-6)
    assert sample_text(store, ref, "The", max_new_tokens=4)
