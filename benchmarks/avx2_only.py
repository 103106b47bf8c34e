"""Run a command on this processor as if it had AVX2 but no AVX-512 and no VNNI.

    .venv/bin/python benchmarks/avx2_only.py --check
    .venv/bin/python benchmarks/avx2_only.py -- .venv/bin/python benchmarks/index_throughput.py --int8 --photos 1000

Issue 17's int8 speed was measured on processors with VNNI; without it
onnxruntime runs another uint8 x int8 kernel (AVX2's ``vpmaddubsw``), whose speed
an emulator cannot time. This builds ``avx2_only.c`` (gcc) and runs the command
with it preloaded: Linux's CPUID faulting hides AVX-512, AVX-VNNI and AMX from
the command's CPUID instructions, so onnxruntime and numpy choose their AVX2
kernels and run them natively. It needs the ``cpuid_fault`` flag in
/proc/cpuinfo (most Intel processors since Ivy Bridge, and their VMs) and gcc.
What it times is the AVX2 code path on this processor, not an AVX2 processor.

Limits: the mask is a SIGSEGV handler, so a command that installs its own later
(Python's faulthandler, for one) turns every CPUID into a crash; and what the C
library chose before the mask (glibc's memcpy and string functions pick their
kernels when it loads) keeps its AVX-512 forms. Neither touches what is timed
here: onnxruntime's and numpy's kernels are chosen after the mask.

``--check`` prints what a masked process sees: numpy's CPU features, and a
uint8 x int8 product of 255s by 127s that the AVX2 kernel saturates (16-bit
pair sums) and the VNNI kernel does not, so the kernel in use is known, not
assumed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("avx2_only.c")
CHECK = """
import sys
from pathlib import Path
from numpy._core._multiarray_umath import __cpu_features__ as features
sys.path.insert(0, {tests!r})
from unsafe_int8 import unsafe_product
print("numpy sees:", ", ".join(f"{{k}} {{features[k]}}" for k in ("AVX2", "FMA3", "AVX512F", "AVX512VNNI")))
got = unsafe_product(Path({model!r}), 4)
kernel = "AVX2 (16-bit pair sums saturate)" if got != 4 * 255 * 127 else "not AVX2's (exact)"
print(f"onnxruntime uint8 x int8 product: {{got}} against {{4 * 255 * 127}} exact: {{kernel}}")
"""


def build(folder: Path) -> Path:
    """``avx2_only.c`` compiled into ``folder``; a one-line exit where it cannot be."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file() or "cpuid_fault" not in cpuinfo.read_text().split():
        raise SystemExit("this processor (or its VM) offers no CPUID faulting (cpuid_fault in /proc/cpuinfo)")
    if shutil.which("gcc") is None:
        raise SystemExit("gcc is needed to build avx2_only.c")
    library = folder / "avx2_only.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(library), str(SOURCE)], check=True)
    return library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print what a masked process sees, and stop")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.check and not command:
        parser.error("give --check or a command after --")
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "LD_PRELOAD": str(build(Path(folder)))}
        env.pop("PYTHONFAULTHANDLER", None)  # its SIGSEGV handler would take the mask's CPUID traps
        if args.check:
            tests = str(Path(__file__).resolve().parents[1] / "tests" / "core")
            code = CHECK.format(tests=tests, model=str(Path(folder) / "unsafe.onnx"))
            raise SystemExit(subprocess.run([sys.executable, "-c", code], env=env).returncode)
        raise SystemExit(subprocess.run(command, env=env).returncode)


if __name__ == "__main__":
    main()
