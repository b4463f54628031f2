"""Model shapes: `GPTConfig`, and named sizes from a model that trains on two CPU cores in
minutes up to GPT-2.

A preset fixes the shape (layers, heads, width, context); the vocabulary always comes from
the tokenizer the model is trained with. Nothing here imports torch, so settings can be
checked (and flows planned) without paying for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 50257
    block_size: int = 1024  # the context: longest sequence the model sees
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    note: str

    def config(self, vocab_size: int, **overrides: int | float) -> GPTConfig:
        shape = {"n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd, "block_size": self.block_size}
        shape.update({k: v for k, v in overrides.items() if v is not None})
        return GPTConfig(vocab_size=vocab_size, **shape)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(2, 2, 64, 64, "tests and the CPU demo: trains in seconds on two cores"),
    "mini": Preset(4, 4, 128, 128, "a CPU model that writes a little better than tiny, several times slower"),
    "small": Preset(6, 6, 384, 256, "one GPU, minutes"),
    "gpt2": Preset(12, 12, 768, 1024, "GPT-2 124M"),
    "gpt2-medium": Preset(24, 16, 1024, 1024, "GPT-2 350M"),
    "gpt2-large": Preset(36, 20, 1280, 1024, "GPT-2 774M"),
    "gpt2-xl": Preset(48, 25, 1600, 1024, "GPT-2 1.5B"),
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def padded_vocab(vocab_size: int, multiple: int = 64) -> int:
    """The embedding size for a tokenizer's vocabulary: rounded up so the output matmul
    tiles well on GPUs (GPT-2's 50257 becomes 50304, a few percent faster). The extra rows
    are never a target, so training pushes their logits down and sampling never picks them."""
    return -(-vocab_size // multiple) * multiple
