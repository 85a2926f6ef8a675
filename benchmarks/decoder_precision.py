"""What bf16 autocast would buy the alignment stage here: the decoder's forward and backward, float32 vs bf16.

    .venv/bin/python benchmarks/decoder_precision.py --autoencoder assets/autoencoders/igae --repeats 10

An alignment step decodes one rendered latent image (1, C, h, w) to (1, 3, 8h, 8w) and back-propagates an MSE through
the decoder: the largest part of a latent alignment step on a CPU. This times that pass alone, one thread,
float32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)`` interleaved (so a load on the machine hits both
alike), and prints the CPU's bf16 flags: bf16 pays only on CPUs with bf16 units (AVX512-BF16, AMX); elsewhere PyTorch
emulates it. The suite keeps float32 (docs/results.md says what this measured).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from igae.ae.autoencoder import decode, load_with_card


def cpu_flags() -> str:
    """The CPU model and its bf16-related flags (from /proc/cpuinfo), e.g. 'Intel Xeon; bf16 flags: none'."""
    model, flags = platform.processor(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    bf16 = sorted(flag for flag in flags if "bf16" in flag or flag.startswith("amx"))
    return f"{model}; bf16 flags: {', '.join(bf16) or 'none'}; torch kernels: {torch.backends.cpu.get_cpu_capability()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autoencoder", type=Path, default=Path("assets/autoencoders/igae"))
    parser.add_argument("--latent-size", type=int, default=16, help="h = w of the latent image (128-px images: 16)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    autoencoder, card = load_with_card(args.autoencoder, "cpu")
    latent = torch.randn(1, card.latent_channels, args.latent_size, args.latent_size, requires_grad=True)
    side = args.latent_size * card.downsample
    target = torch.rand(1, 3, side, side) * 2 - 1  # (1, 3, H, W) in the decoder's [-1, 1]

    def step(bf16: bool) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            decoded = decode(autoencoder, latent, clamp=True)  # (1, 3, H, W)
        torch.nn.functional.mse_loss(decoded.float(), target).backward()
        return time.perf_counter() - start

    seconds: dict[bool, list[float]] = {False: [], True: []}
    for bf16 in (False, True):  # warm-up
        step(bf16)
    for _ in range(args.repeats):
        for bf16 in (False, True):
            seconds[bf16].append(step(bf16))
    print(cpu_flags())
    fp32, bf16 = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"decoder forward + backward, ({card.latent_channels}, {args.latent_size}, {args.latent_size}) -> {side} px:")
    print(f"  float32 {1000 * fp32:.0f} ms, bf16 autocast {1000 * bf16:.0f} ms (median of {args.repeats})")
    print(f"  bf16 speed-up: {fp32 / bf16:.2f}x")


if __name__ == "__main__":
    main()
