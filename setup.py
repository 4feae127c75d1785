"""Build and install adatune.

The package is pure Python except for ``libadatune_runtime.so``, the TVM-FFI plugin
that holds the adaptive timing loop.  ``build_ext`` compiles it with CMake against
the apache-tvm-ffi wheel and puts it in ``adatune/lib/``; an editable install puts it
in the source tree's ``python/adatune/lib/`` so ``adatune.libinfo`` finds it either way.
"""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
LIB_NAME = "libadatune_runtime.so"


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def run(self):
        for ext in self.extensions:
            self._build_cmake(ext)

    def _build_cmake(self, ext):
        build_dir = os.path.join(ROOT, "build", "cmake")
        os.makedirs(build_dir, exist_ok=True)
        cmake = shutil.which("cmake") or "cmake"
        subprocess.check_call(
            [cmake, "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
             f"-DPython_EXECUTABLE={sys.executable}"]
        )
        subprocess.check_call([cmake, "--build", build_dir, "--parallel", "2"])
        built = os.path.join(build_dir, LIB_NAME)
        targets = [os.path.join(ROOT, "python", "adatune", "lib")]
        if not self.inplace:
            targets.append(os.path.join(os.path.abspath(self.build_lib), "adatune", "lib"))
        for target in targets:
            os.makedirs(target, exist_ok=True)
            shutil.copy2(built, os.path.join(target, LIB_NAME))


def _version():
    about = {}
    with open(os.path.join(ROOT, "python", "adatune", "_version.py")) as f:
        exec(f.read(), about)
    return about["__version__"]


setup(
    name="adatune",
    version=_version(),
    description="Adaptive autotuning for Apache TVM: adaptive evaluation, RF+EI tuning, records",
    long_description=open(os.path.join(ROOT, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    package_dir={"": "python"},
    packages=find_packages("python"),
    package_data={"adatune": ["lib/*.so"]},
    ext_modules=[CMakeExtension("adatune.lib.adatune_runtime")],
    cmdclass={"build_ext": CMakeBuild},
    install_requires=[
        "apache-tvm==0.27.0.post1",
        # 0.1.15.x segfaults in ToJSONGraph on every JSON save (MetaSchedule saves constantly).
        "apache-tvm-ffi==0.1.14.post1",
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "xgboost>=2.0",
        "tqdm>=4.60",
        "SQLAlchemy>=2.0",
        "psycopg[binary]>=3.1",
        "matplotlib>=3.7",
        "psutil>=5.9",
        # records: about 3x faster log parsing than json (a fallback to json remains)
        "orjson>=3.9",
        "tornado>=6.0",  # TVM's RPC tracker needs it
        "cloudpickle>=2.0",  # MetaSchedule's builders pickle their jobs with it
        "onnx>=1.16",  # tune_model's ONNX input
    ],
    extras_require={
        # threadpoolctl: tests/test_numpy_reference.py reads the numpy child's OpenBLAS
        # kernel with it (scikit-learn pulls it in too, but only as its own dependency).
        "test": ["pytest>=7", "hypothesis>=6", "pytest-timeout>=2.1", "threadpoolctl>=3.1"],
        # bench/replay.py's peers (tests/test_replay_budget.py checks them); Optuna's
        # GPSampler also needs torch (the models extra), without which it is skipped.
        "bench": ["pandas>=2.0", "kernel_tuner==1.5.0", "optuna>=4.0", "smac==2.4.1"],
        # bench/models.py only (the test suite needs none of it). torch 2.13.0 is the CPU
        # build this machine's pip takes from disk; a newer one pulls a 5.5 GB CUDA build.
        "models": ["onnxruntime>=1.17", "torch==2.13.0"],
    },
    entry_points={"console_scripts": ["adatune=adatune.cli:main"]},
    zip_safe=False,
)
