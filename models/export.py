"""Export to the Hugging Face GPT-2 layout: `config.json`, `model.safetensors` and the
tokenizer, so `transformers.GPT2LMHeadModel.from_pretrained(dir)` loads it and computes the
same logits. Our module names already are GPT-2's; only the linear weights differ, stored
transposed by GPT-2's `Conv1D`."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from models.gpt import GPT

EOT = "<|endoftext|>"
# Linear layers that GPT-2 keeps as Conv1D, whose weight is (in, out) rather than (out, in).
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def hf_config(model: GPT, eot_id: int | None) -> dict:
    c = model.config
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_ctx": c.block_size,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": None,
        "activation_function": "gelu_new",
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Tensors under GPT-2's names; the tied output head is left out, as transformers does."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        tensor = tensor.detach().to("cpu", torch.float32)
        if name.endswith(_CONV1D):
            tensor = tensor.t()
        out[name] = tensor.contiguous()
    return out


def export_hf(model: GPT, tokenizer_json: str, out_dir: str | Path) -> Path:
    """Write the model and its tokenizer (the `tokenizer.json` text) into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = json.loads(tokenizer_json)
    added = {t["content"]: t["id"] for t in vocab.get("added_tokens", [])}
    eot_id = added.get(EOT)
    (out / "config.json").write_text(json.dumps(hf_config(model, eot_id), indent=2))
    save_file(hf_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "tokenizer.json").write_text(tokenizer_json)
    special = {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT} if eot_id is not None else {}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.config.block_size,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        **special,
    }, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    if eot_id is not None:
        (out / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": eot_id, "eos_token_id": eot_id, "do_sample": True, "top_k": 50}, indent=2))
    return out
