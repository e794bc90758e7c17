"""``--threads N`` read from the command line before numpy and torch are imported.

The BLAS and OpenMP pools take their size when those libraries load, so a benchmark
imports this module first; ``THREADS`` is then the default of its ``--threads`` option.
"""

import os
import sys


def threads_from_argv(argv=None, default: int = 1) -> int:
    argv = sys.argv if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return default


THREADS = threads_from_argv()
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, str(THREADS))
