"""Records, in the installed package, which emfleet checkout it was installed from.

`pip install ./python` builds in place, so this file's directory is the checkout's `python/`; the
installed `emfleet._checkout.CHECKOUT` lets the package find `.build/release/emfleet` there.
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py


class RecordCheckout(build_py):
    def run(self):
        super().run()
        checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        target = os.path.join(self.build_lib, "emfleet", "_checkout.py")
        with open(target, "w") as f:
            f.write('"""Written by setup.py: the emfleet checkout this package was installed from."""\n')
            f.write(f"CHECKOUT = {checkout!r}\n")


setup(cmdclass={"build_py": RecordCheckout})
