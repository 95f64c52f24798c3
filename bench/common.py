"""Helpers shared by the benchmarks: timing with medians, scratch folders, and the repository on sys.path."""

import atexit
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def scratch_dir(prefix):
    """A temporary folder removed when the benchmark exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return Path(path)


def timed(fn, repeats, warmup=1):
    """Run fn warmup + repeats times; return the list of wall times (s) of the timed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(name, times):
    print(f"{name:<44} median {statistics.median(times):8.3f} s   "
          f"min {min(times):.3f}  max {max(times):.3f}  (n={len(times)})")
    return statistics.median(times)


def load_extension_package():
    """Import the repository root as the package `intermask` (as Blender loads the extension), so the
    extension's modules and their relative imports resolve."""
    import importlib.util
    if "intermask" not in sys.modules:
        spec = importlib.util.spec_from_file_location("intermask", ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["intermask"] = module
        spec.loader.exec_module(module)
    return sys.modules["intermask"]
