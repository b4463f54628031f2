"""Using a committed train output: its model and tokenizer, samples, a Hugging Face export.
For `fineflow sample` and `fineflow export`."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer

from models.checkpoint import load_latest
from models.export import export_hf as export_model
from models.gpt import GPT, GPTConfig
from models.sampling import sample
from storage import Store
from tasks.stage import OutputRef
from tasks.train import TOKENIZER_FILE, find_train_output


def load_trained(store: Store, train: OutputRef | str | None = None,
                 device: str | torch.device = "cpu") -> tuple[GPT, Tokenizer, str]:
    """The model of a committed run (its newest good checkpoint), its tokenizer, and the
    tokenizer's JSON text."""
    output = find_train_output(store, train)
    names = [f.path for f in output.committed().files]
    state, info, _ = load_latest(store, output.dir, names=names)
    if state is None:
        raise FileNotFoundError(f"no usable checkpoint in {output.uri()}")
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    model.to(device).eval()
    tokenizer_json = store.read_bytes(f"{output.dir}/{TOKENIZER_FILE}").decode()
    return model, Tokenizer.from_str(tokenizer_json), tokenizer_json


def sample_text(store: Store, train: OutputRef | str | None, prompt: str, *, max_new_tokens: int = 100,
                temperature: float = 0.8, top_k: int | None = 50, seed: int = 0, device: str = "cpu") -> str:
    """Text from a committed run: the prompt and its continuation."""
    model, tokenizer, _ = load_trained(store, train, device)
    return sample(model, tokenizer, prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                  seed=seed)


def export_hf(store: Store, train: OutputRef | str | None, out_dir: str | Path) -> Path:
    """Write a committed run in the Hugging Face GPT-2 layout to the local folder `out_dir`."""
    model, _, tokenizer_json = load_trained(store, train)
    return export_model(model, tokenizer_json, out_dir)
