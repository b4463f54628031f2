"""The GPT, its presets, sampling, the schedule and the FLOPs arithmetic."""

from __future__ import annotations

import math

import pytest
import torch

from models.gpt import GPT, GPTConfig
from models.metrics import flops_per_token, mfu
from models.presets import PRESETS, padded_vocab, preset
from models.sampling import generate, sample
from tasks.train import ModelSettings
from tasks.train_loop import BatchPlan, lr_factor

# The token fixtures (built once a session) come from a plugin module, not conftest.py.


def tiny(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(preset("tiny").config(256, **kw))


def test_forward_shapes_and_initial_loss_is_uniform_guess():
    model = tiny()
    idx = torch.randint(0, 256, (3, 64))
    logits, loss = model(idx, torch.randint(0, 256, (3, 64)))
    assert logits.shape == (3, 64, 256)
    # GPT-2 initialisation gives near-uniform predictions: loss close to ln(vocabulary).
    assert abs(loss.item() - math.log(256)) < 0.1
    assert model(idx)[1] is None
    with pytest.raises(ValueError, match="longer than the context"):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_attention_is_causal():
    model = tiny().eval()
    idx = torch.randint(0, 256, (1, 20))
    changed = idx.clone()
    changed[0, 15] = (idx[0, 15] + 1) % 256
    a, b = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(a[0, :15], b[0, :15])
    assert not torch.allclose(a[0, 15:], b[0, 15:])


def test_weight_tying_and_gpt2_initialisation():
    model = tiny()
    assert model.lm_head.weight is model.transformer.wte.weight
    big = GPT(GPTConfig(vocab_size=512, block_size=32, n_layer=8, n_head=4, n_embd=256))
    residual = torch.cat([b.attn.c_proj.weight.flatten() for b in big.transformer.h])
    assert residual.std().item() == pytest.approx(0.02 / math.sqrt(2 * 8), rel=0.05)
    assert big.transformer.h[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert all((b.attn.c_attn.bias == 0).all() for b in big.transformer.h)
    decay, no_decay = big.parameter_groups(0.1)
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == big.num_params(non_embedding=False)


def test_presets_span_tiny_to_gpt2_124m():
    with torch.device("meta"):  # shapes only: nothing allocated
        gpt2 = GPT(preset("gpt2").config(50257))
    assert gpt2.num_params(non_embedding=False) == 124_439_808  # GPT-2 small, as published
    assert {"tiny", "gpt2"} <= PRESETS.keys()
    assert padded_vocab(50257) == 50304 and padded_vocab(1024) == 1024
    settings = ModelSettings(preset="tiny", n_layer=3, block_size=32)
    assert settings.gpt_config(1000) == GPTConfig(vocab_size=1024, block_size=32, n_layer=3, n_head=2, n_embd=64)
    with pytest.raises(ValueError, match="unknown model preset"):
        ModelSettings(preset="huge")
    with pytest.raises(ValueError, match="not a multiple of n_head"):
        ModelSettings(preset="tiny", n_head=3)


def test_generate_respects_length_seed_and_stop_token():
    model = tiny()
    start = torch.tensor([[1, 2, 3]])
    out = generate(model, start, 10, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert out.shape == (1, 13) and torch.equal(out[:, :3], start)
    again = generate(model, start, 10, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    greedy = generate(model, start, 5, temperature=0)
    assert torch.equal(greedy, generate(model, start, 5, temperature=1.0, top_k=1))
    stop = int(greedy[0, 3])  # the first token greedy decoding picks
    assert generate(model, start, 5, temperature=0, stop_token=stop).shape == (1, 4)
    limited = generate(model, start, 30, temperature=2.0, vocab_limit=10, generator=torch.Generator().manual_seed(0))
    assert int(limited[0, 3:].max()) < 10
    # Contexts longer than the model's are cropped, not refused.
    assert generate(model, torch.zeros(1, 64, dtype=torch.long), 3).shape == (1, 67)


def test_sample_decodes_text_from_a_tokenizer(token_root):
    from tokenizers import Tokenizer

    root, tokenizer_ref, _ = token_root
    tokenizer = Tokenizer.from_file(str(root / tokenizer_ref.dir / "tokenizer.json"))
    model = GPT(preset("tiny").config(padded_vocab(tokenizer.get_vocab_size())))
    text = sample(model, tokenizer, "The weather", max_new_tokens=8, seed=3)
    assert text.startswith("The weather") and text == sample(model, tokenizer, "The weather", max_new_tokens=8, seed=3)
    assert isinstance(sample(model, tokenizer, "", max_new_tokens=8), str)


def test_schedule_warms_up_then_decays_to_the_floor():
    lrs = [lr_factor(s, 10, 100, 0.1) for s in range(101)]
    assert lrs[0] < lrs[5] < lrs[9] < lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[100] == pytest.approx(0.1) and lrs[55] == pytest.approx(0.55)


def test_batch_plan_splits_the_global_batch():
    plan = BatchPlan.make(524288, 1024, 8, 16)
    assert (plan.sequences, plan.micro, plan.accum, plan.tokens) == (512, 16, 4, 524288)
    plan = BatchPlan.make(12 * 64, 64, 1, 8)
    assert (plan.micro, plan.accum) == (6, 2)  # the largest micro batch that divides 12
    assert BatchPlan.make(256, 64, 2, 2).tokens == BatchPlan.make(256, 64, 1, 4).tokens == 256


def test_flops_and_mfu():
    config = preset("gpt2").config(50304)
    n = 124_475_904 - 1024 * 768  # parameters at the padded vocabulary, without positions
    per_token = flops_per_token(config, n)
    assert per_token == 6 * n + 12 * 12 * 768 * 1024
    assert mfu(400_000, per_token, 989e12) == pytest.approx(400_000 * per_token / 989e12)
    assert mfu(400_000, per_token, None) is None and mfu(800_000, per_token, 989e12, devices=2) == mfu(
        400_000, per_token, 989e12)
