"""``emoface.utils.cpu``: the CPU's flags from ``/proc/cpuinfo`` and whether bfloat16 is native."""

from pathlib import Path

from emoface.utils.cpu import bf16_native, cpu_flags

X86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni{extra}\n\nprocessor\t: 1\n"


def test_flags_of_x86_and_arm(tmp_path: Path):
    intel = tmp_path / "intel"
    intel.write_text(X86.format(extra=""))
    assert cpu_flags(intel) == {"fpu", "sse2", "avx2", "avx512f", "avx512_vnni"}
    assert bf16_native(intel) is False  # AVX-512 with VNNI but no AVX512-BF16: bfloat16 is emulated
    amd = tmp_path / "amd"
    amd.write_text(X86.format(extra=" avx512_bf16"))
    assert bf16_native(amd) is True
    sapphire = tmp_path / "amx"
    sapphire.write_text(X86.format(extra=" amx_tile amx_bf16"))
    assert bf16_native(sapphire) is True
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert bf16_native(arm) is True


def test_unknown_without_cpuinfo(tmp_path: Path):
    assert cpu_flags(tmp_path / "missing") is None and bf16_native(tmp_path / "missing") is None
    empty = tmp_path / "empty"
    empty.write_text("processor\t: 0\n")
    assert bf16_native(empty) is None
