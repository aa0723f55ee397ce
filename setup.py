"""Builds the hashing helper's optional compiled loop, migrate/_rowdigest.c, next to its sources.

``./dev setup`` (and so ``./dev test`` and ``./dev rehearse``) runs ``python setup.py -q build_ext --inplace``
when the module is missing or older than its source. It needs a C compiler, Python's headers and OpenSSL's
(Debian: gcc, python3-dev, libssl-dev). Without the module every digest is computed in Python: the same
digests, slower (bench/RESULTS.md). This is not a package: nothing else here is installed with pip.
"""

from setuptools import Extension, setup

setup(
    name="migrate-rowdigest",
    ext_modules=[Extension("migrate._rowdigest", ["migrate/_rowdigest.c"], libraries=["crypto"],
                           extra_compile_args=["-O2", "-Wall", "-Werror=implicit-function-declaration"])],
)
