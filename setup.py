"""Build of the model's compiled kernels (``model/kernels.pyx``); everything else is in pyproject.toml.

The kernels call NumPy's C random distributions (``numpy/random/lib/libnpyrandom.a``), so they are
compiled against the numpy that runs them: ``scripts/setup.sh`` installs numpy first and builds
without build isolation.  The source's sha256 and that numpy version are compiled in, and
``model/compiled.py`` refuses a build that does not match the source or the installed numpy.
"""

import hashlib
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join("model", "kernels.pyx")
with open(os.path.join(HERE, SOURCE), "rb") as f:
    source_sha = hashlib.sha256(f.read()).hexdigest()
numpy_dir = os.path.dirname(numpy.__file__)

kernels = Extension(
    "model.kernels",
    [SOURCE],
    include_dirs=[numpy.get_include()],
    library_dirs=[os.path.join(numpy_dir, "random", "lib"), os.path.join(numpy_dir, "_core", "lib")],
    libraries=["npyrandom", "npymath"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                   ("KERNELS_SOURCE_SHA", f'"{source_sha}"'),
                   ("KERNELS_NUMPY_VERSION", f'"{numpy.__version__}"')],
    # no fused multiply-add contraction: the same float operations in the same order on any build
    extra_compile_args=["-O2", "-ffp-contract=off"],
)

setup(ext_modules=cythonize([kernels], compiler_directives={"language_level": "3"}, quiet=True))
