"""Export to the Hugging Face GPT-2 layout: transformers loads it and computes our logits."""

from __future__ import annotations

import os

import pytest
import torch

from storage import Store
from tasks.trained import export_hf, load_trained

# The token fixtures (built once a session) come from a plugin module, not conftest.py.

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never reach for the hub
transformers = pytest.importorskip("transformers")


def test_export_loads_in_transformers_with_equal_logits(trained_run, tmp_path):
    store = Store(trained_run.data.storage)
    out = export_hf(store, trained_run.ref, tmp_path / "hf")
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in out.iterdir()}

    ours, tokenizer, _ = load_trained(store, trained_run.ref)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    text = "The weather in the mountains was cold, and the soup was warm. Der Zug fährt um acht Uhr."
    ids = torch.tensor([tokenizer.encode(text).ids[:ours.config.block_size]])
    with torch.no_grad():
        expected = ours(ids)[0]
        actual = theirs(ids).logits
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)

    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert hf_tokenizer(text)["input_ids"] == tokenizer.encode(text).ids
    assert hf_tokenizer.eos_token == "<|endoftext|>"
    assert theirs.config.eos_token_id == tokenizer.token_to_id("<|endoftext|>")
    # Greedy decoding agrees too: the exported model is the same model.
    start = ids[:, :5]
    from models.sampling import generate

    with torch.no_grad():
        hf_greedy = theirs.generate(start, max_new_tokens=8, do_sample=False, pad_token_id=0,
                                    eos_token_id=None)
    assert torch.equal(hf_greedy, generate(ours, start, 8, temperature=0))
