"""gan.backend's CPU check: whether bfloat16 is real arithmetic here or emulated."""

from __future__ import annotations

from gan.backend import cpu_computes_bfloat16

AVX2_EPYC = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma f16c\nbugs\t\t: sysret_ss_attrs\n"


def test_bfloat16_needs_avx512_bf16_or_amx():
    assert not cpu_computes_bfloat16(AVX2_EPYC)
    assert not cpu_computes_bfloat16(AVX2_EPYC.replace("avx2", "avx2 avx512f avx512bw"))
    assert cpu_computes_bfloat16(AVX2_EPYC.replace("avx2", "avx2 avx512f avx512_bf16"))
    assert cpu_computes_bfloat16(AVX2_EPYC.replace("avx2", "avx2 amx_bf16 amx_tile"))


def test_a_cpu_it_cannot_read_is_given_the_benefit_of_the_doubt():
    assert cpu_computes_bfloat16("Processor\t: ARMv8\n")
