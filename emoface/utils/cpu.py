"""What this machine's CPU can do, from ``/proc/cpuinfo`` (Linux); unknown elsewhere."""

from __future__ import annotations

from pathlib import Path

__all__ = ["cpu_flags", "bf16_native"]

#: instruction-set flags with which PyTorch runs bfloat16 matrix products natively on the CPU
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The first CPU's feature flags (``flags`` on x86, ``Features`` on ARM); None when unknown."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def bf16_native(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether the CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16 on x86, BF16 on ARM);
    None when its flags cannot be read. Without them bfloat16 runs emulated, slower than float32."""
    flags = cpu_flags(cpuinfo)
    if flags is None:
        return None
    return bool(flags & (BF16_FLAGS | {"bf16"}))
