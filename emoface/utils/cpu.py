"""What this machine's CPU is and can do, from ``/proc/cpuinfo`` (Linux); unknown elsewhere."""

from __future__ import annotations

from pathlib import Path

__all__ = ["cpuinfo", "cpu_flags", "bf16_native", "BF16_FLAGS"]

CPUINFO = Path("/proc/cpuinfo")

#: instruction-set flags with which PyTorch runs bfloat16 matrix products natively on an x86 CPU
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpuinfo(path: Path = CPUINFO) -> dict[str, str]:
    """The first CPU's fields (``vendor_id``, ``model name``, ``flags``...); empty when unreadable."""
    info: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info.setdefault(key.strip(), " ".join(value.split()))
    return info


def cpu_flags(path: Path = CPUINFO) -> frozenset[str] | None:
    """The first CPU's feature flags (``flags`` on x86, ``Features`` on ARM); None when unknown."""
    info = cpuinfo(path)
    value = info.get("flags", info.get("Features"))
    return None if value is None else frozenset(value.split())


def bf16_native(path: Path = CPUINFO) -> bool | None:
    """Whether the CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16 on x86, BF16 on ARM);
    None when its flags cannot be read. Without them bfloat16 runs emulated, slower than float32."""
    flags = cpu_flags(path)
    if flags is None:
        return None
    return bool(flags & (BF16_FLAGS | {"bf16"}))
