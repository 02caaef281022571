"""Which CPU this is: model name and vector ISA flags.

The machines these figures are measured on differ between days (Intel with
AVX-512, AMD with AVX2); a speed figure means little without them, so every
benchmark script records `cpu_info()` beside its results. Inference reads the
flags too: `asr.precision` runs bfloat16 only where the CPU computes it natively.
"""

from __future__ import annotations

import platform
from pathlib import Path

# The flags (as /proc/cpuinfo spells them) that decide which kernels oneDNN,
# XNNPACK and OpenBLAS pick; listed in this order when present.
VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def _cpuinfo_field(name: str, cpuinfo: str | None = None) -> str | None:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name ("AMD EPYC 7B13"), or the platform's guess."""
    return _cpuinfo_field("model name", cpuinfo) or platform.processor()


def cpu_isa(cpuinfo: str | None = None) -> list[str]:
    """The vector instruction sets the CPU reports (`VECTOR_FLAGS` order);
    empty where /proc/cpuinfo is not readable (not Linux)."""
    flags = set((_cpuinfo_field("flags", cpuinfo) or "").split())
    return [f for f in VECTOR_FLAGS if f in flags]


def cpu_info() -> dict:
    """{"cpu": name, "isa": [flags]}, for a results file's `env`."""
    return {"cpu": cpu_name(), "isa": cpu_isa()}
