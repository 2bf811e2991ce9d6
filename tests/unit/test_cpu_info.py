"""``cpu_info``: the CPU model and the instruction sets that matter for int8/bf16/fp16, parsed from fixed
/proc/cpuinfo texts (x86 with AVX2 only, AVX-VNNI, AVX512-VNNI + AMX; ARM), and from this machine's own."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from dlcompress.toolkit import devices
from dlcompress.toolkit.devices import INT8_FLAGS, CpuInfo, cpu_info

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7763 64-Core Processor
flags\t\t: fpu vme de pse tsc msr pae mce cx8 sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2 sha_ni vaes
bugs\t\t: sysret_ss_attrs spectre_v1

processor\t: 1
model name\t: AMD EPYC 7763 64-Core Processor
flags\t\t: fpu vme de pse tsc msr pae mce cx8 sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2 sha_ni vaes
"""

ALDER_LAKE = """processor\t: 0
model name\t: 12th Gen Intel(R) Core(TM) i7-12700H
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 avx_vnni bmi1 bmi2 sha_ni
"""

SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512_bf16 \
avx512_fp16 amx_bf16 amx_tile amx_int8
"""

GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


@pytest.fixture
def parse(monkeypatch):
    """cpu_info() reading ``text`` as /proc/cpuinfo on a machine of ``machine`` type (cache cleared around it)."""

    def run(text: str | None, machine: str = "x86_64", processor: str = "") -> CpuInfo:
        def fake_open(path, *a, **k):
            assert path == "/proc/cpuinfo"
            if text is None:
                raise FileNotFoundError(path)
            return io.StringIO(text)

        monkeypatch.setattr(devices, "open", fake_open, raising=False)
        monkeypatch.setattr(devices.platform, "machine", lambda: machine)
        monkeypatch.setattr(devices.platform, "processor", lambda: processor)
        cpu_info.cache_clear()
        return cpu_info()

    yield run
    cpu_info.cache_clear()


def test_avx2_only_x86(parse):
    info = parse(ZEN3)
    assert info.model == "AMD EPYC 7763 64-Core Processor"
    assert info.flags == ("avx2", "f16c")  # only the flags that matter for inference, sorted
    assert "avx2" in info.flags
    assert info.is_x86 and not info.has_vnni and not info.has_bf16 and not info.has_native_fp16


def test_avx_vnni_counts_as_vnni(parse):
    info = parse(ALDER_LAKE)
    assert info.flags == ("avx2", "avx_vnni", "f16c")
    assert info.has_vnni and not info.has_bf16 and not info.has_native_fp16


def test_avx512_vnni_amx_bf16_fp16(parse):
    info = parse(SAPPHIRE_RAPIDS)
    assert info.flags == ("amx_bf16", "amx_int8", "avx2", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx512f",
                          "f16c")
    assert "amx_tile" not in info.flags and "avx512bw" not in info.flags  # not in the table of flags that matter
    assert info.has_vnni and info.has_bf16 and info.has_native_fp16


@pytest.mark.parametrize("flag", ["avx512_vnni", "avx_vnni", "amx_int8"])
def test_each_int8_dot_product_flag_alone_means_vnni(parse, flag):
    assert parse(f"model name\t: X\nflags\t\t: sse avx2 {flag}\n").has_vnni


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_each_bf16_flag_alone_means_bf16(parse, flag):
    info = parse(f"flags\t\t: avx2 {flag}\n")
    assert info.has_bf16 and not info.has_vnni


def test_arm_features_line_and_native_fp16(parse):
    info = parse(GRAVITON, machine="aarch64")
    assert info.flags == ()  # ARM feature names are not x86 ISA flags
    assert info.model == "unknown"  # no "model name" line and no platform.processor()
    assert not info.is_x86 and not info.has_vnni and info.has_native_fp16


def test_only_the_first_flags_line_counts(parse):
    text = "flags\t\t: avx2\n\nflags\t\t: avx2 avx512_vnni amx_int8\n"
    info = parse(text)
    assert info.flags == ("avx2",) and not info.has_vnni


def test_model_name_replaces_an_uninformative_processor_string(parse):
    assert parse(ZEN3, processor="x86_64").model == "AMD EPYC 7763 64-Core Processor"  # processor() == machine
    assert parse(ZEN3, processor="").model == "AMD EPYC 7763 64-Core Processor"
    assert parse(ZEN3, processor="Intel64 Family 6").model == "Intel64 Family 6"  # an informative one is kept


def test_unreadable_cpuinfo_gives_no_flags(parse):
    info = parse(None, processor="")
    assert info.model == "unknown" and info.flags == () and info.machine == "x86_64"
    assert info.is_x86 and not info.has_vnni
    info = parse(None, processor="arm64 cpu", machine="arm64")
    assert info.model == "arm64 cpu" and info.has_native_fp16


def test_cores_are_the_usable_ones(parse):
    assert parse(ZEN3).cores == len(os.sched_getaffinity(0))


def test_to_json_adds_the_derived_capabilities(parse):
    j = parse(ALDER_LAKE).to_json()
    assert j == {"model": "12th Gen Intel(R) Core(TM) i7-12700H", "machine": "x86_64", "cores": j["cores"],
                 "flags": ("avx2", "avx_vnni", "f16c"), "vnni": True, "bf16": False, "native_fp16": False}


@pytest.mark.parametrize("machine,x86", [("x86_64", True), ("AMD64", True), ("i686", True), ("aarch64", False),
                                         ("arm64", False), ("riscv64", False)])
def test_is_x86(machine, x86):
    assert CpuInfo("m", machine, 1, ()).is_x86 is x86


def test_this_machine_agrees_with_its_own_proc_cpuinfo():
    cpu_info.cache_clear()
    try:
        info = cpu_info()
    finally:
        cpu_info.cache_clear()
    assert set(info.flags) <= set(INT8_FLAGS) and list(info.flags) == sorted(info.flags)
    proc = Path("/proc/cpuinfo")
    if not proc.exists():
        pytest.skip("no /proc/cpuinfo")
    first = next((ln for ln in proc.read_text().splitlines() if ln.split(":")[0].strip() in ("flags", "Features")), "")
    expected = sorted(set(first.partition(":")[2].split()) & set(INT8_FLAGS))
    assert list(info.flags) == expected
    assert info.has_vnni == bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(expected))
    assert devices.environment()["cpu"]["flags"] == info.flags
