"""Run a Python script in this process, then report its own peak memory and its children's.

    python benchmarks/peak.py REPORT.json SCRIPT [ARG ...]

SCRIPT runs as `__main__` with sys.argv = [SCRIPT, ARG, ...], exactly as `python SCRIPT`
would run it (a console script such as .venv/bin/grade included). When it ends, REPORT.json
gets:

- `self_mb`: the peak resident memory of this process, i.e. of the script itself;
- `children_mb`: the largest peak among the processes it started and waited for (workers,
  forked grading processes), which the kernel reports as one maximum;
- `imported_torch`: whether the script imported torch.

RUSAGE_CHILDREN of a benchmark that starts this wrapper would give the maximum over every
process below it, so each measured command runs under its own wrapper instead.
"""

import json
import os
import resource
import runpy
import sys


def main(report_path: str, script: str, *arguments: str) -> int:
    sys.argv = [script, *arguments]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (exit.code is not None)
    finally:
        report = {
            "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "imported_torch": "torch" in sys.modules,
        }
        with open(report_path, "w") as stream:
            json.dump(report, stream)
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
