"""Builds mmsb._mmsb with the project's CMake (pyproject.toml holds the metadata).

The extension is the CMake target mmsb_python, configured in build/pip with only what it
needs (no tests, benchmarks or tools) and copied to where setuptools packs it. Needs what
`make build` needs (scripts/install-deps.sh) plus the Python headers and pybind11, which
install-deps installs. MMSB_PIP_BUILD_DIR overrides the build directory.
"""

import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = pathlib.Path(os.environ.get("MMSB_PIP_BUILD_DIR", ROOT / "build" / "pip"))
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release", "-DMMSB_BUILD_TESTS=OFF", "-DMMSB_BUILD_BENCH=OFF",
            "-DMMSB_BUILD_TOOLS=OFF", "-DMMSB_BUILD_PYTHON=ON",
            f"-DPython_EXECUTABLE={sys.executable}",
        ]
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "mmsb_python"], check=True)
        built = next((build / "python" / "mmsb").glob("_mmsb*.so"))
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)


setup(ext_modules=[Extension("mmsb._mmsb", sources=[])], cmdclass={"build_ext": CMakeBuild})
