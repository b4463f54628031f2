"""Training FLOPs and model FLOPs utilisation (MFU)."""

from __future__ import annotations

import torch

from models.gpt import GPTConfig

# Dense bf16 tensor-core peaks (no sparsity), FLOP/s, by a substring of the device name.
# First match wins, so the more specific names come first.
PEAK_BF16: list[tuple[str, float]] = [
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10", 125e12),
]


def flops_per_token(config: GPTConfig, n_params: int) -> float:
    """Training FLOPs per token: 6N for the weight matmuls forward and backward, plus
    12 * layers * width * context for attention's QK^T and AV (PaLM appendix B; the causal
    mask's saving is not subtracted, as is usual). N excludes the position embeddings."""
    return 6.0 * n_params + 12.0 * config.n_layer * config.n_embd * config.block_size


def peak_flops(device: torch.device | str) -> float | None:
    """The bf16 peak of a CUDA device, or None when unknown (and on CPU)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_BF16:
        if key in name:
            return peak
    return None


def mfu(tokens_per_s: float, flops_token: float, peak: float | None, devices: int = 1) -> float | None:
    """Achieved over peak FLOP/s across `devices` of the same kind."""
    if not peak or tokens_per_s <= 0:
        return None
    return tokens_per_s * flops_token / (peak * devices)
