"""Text from a trained model: temperature, top-k, a length limit, stop at `<|endoftext|>`."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer

from models.gpt import GPT

EOT = "<|endoftext|>"


@torch.no_grad()
def generate(model: GPT, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, stop_token: int | None = None, vocab_limit: int | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Extend `idx` (`[1, T]`) by up to `max_new_tokens` tokens; stops after `stop_token`.

    No KV cache: the whole (cropped) context is run for each token, which is plenty for
    samples of a few hundred tokens and keeps the model code free of inference plumbing.
    `vocab_limit` masks the embedding rows past the tokenizer's vocabulary (padding).
    Temperature 0 picks the most likely token.
    """
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            context = idx[:, -model.config.block_size:]
            logits, _ = model(context)
            logits = logits[:, -1, :].float()
            if vocab_limit is not None and vocab_limit < logits.size(-1):
                logits[:, vocab_limit:] = float("-inf")
            if temperature <= 0:
                token = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.size(-1):
                    kth = torch.topk(logits, top_k).values[:, [-1]]
                    logits[logits < kth] = float("-inf")
                token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
            idx = torch.cat([idx, token], dim=1)
            if stop_token is not None and int(token) == stop_token:
                break
    finally:
        model.train(was_training)
    return idx


def sample(model: GPT, tokenizer: Tokenizer, prompt: str = "", *, max_new_tokens: int = 100,
           temperature: float = 0.8, top_k: int | None = 50, seed: int = 0) -> str:
    """The prompt and its continuation, as text; the same seed gives the same text.

    An empty prompt starts from `<|endoftext|>`, i.e. at the start of a new document.
    """
    eot = tokenizer.token_to_id(EOT)
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids if prompt else []
    if not ids and eot is None:
        raise ValueError(f"an empty prompt needs the {EOT} token, which this tokenizer lacks")
    start = ids or [eot]
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    out = generate(model, torch.tensor([start], dtype=torch.long, device=device), max_new_tokens,
                   temperature=temperature, top_k=top_k, stop_token=eot, vocab_limit=tokenizer.get_vocab_size(),
                   generator=generator)
    new = [t for t in out[0, len(start):].tolist() if t != eot]
    return tokenizer.decode(ids + new, skip_special_tokens=True)
