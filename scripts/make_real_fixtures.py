#!/usr/bin/env python3
"""Exports two real public datasets that scikit-learn ships into Tests/Fixtures/, with reference fits.

- Iris (Fisher 1936; UCI Machine Learning Repository, CC BY 4.0; bundled with scikit-learn, BSD-3-Clause):
  iris.npy (150 × 4, cm), iris_species.txt (one species name per line).
- Wine (Forina et al.; UCI Machine Learning Repository, CC BY 4.0; bundled with scikit-learn):
  wine.npy (178 × 13), wine_cultivar.txt (class_0, class_1, class_2).

Reference cases for the scikit-learn agreement test, in the format of make_fixtures.py: iris_full
(3 full components) and wine_diag (3 diagonal components on the standardised wine measurements),
each from a fixed start, every fifth row held out.

usage: python3 scripts/make_real_fixtures.py [OUT_DIR]   (default Tests/Fixtures)
"""
import os
import sys

import numpy as np
from sklearn.datasets import load_iris, load_wine

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402  (the reference-case writer)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
make_fixtures.OUT = OUT


def export(name, data, target_names, target, label_file):
    np.save(os.path.join(OUT, f"{name}.npy"), data.astype(np.float64))
    with open(os.path.join(OUT, label_file), "w") as f:
        f.write("".join(f"{target_names[t]}\n" for t in target))


def main():
    rng = np.random.default_rng(20261127)
    iris = load_iris()
    export("iris", iris.data, list(iris.target_names), iris.target, "iris_species.txt")
    wine = load_wine()
    export("wine", wine.data, list(wine.target_names), wine.target, "wine_cultivar.txt")

    held_out = np.arange(len(iris.data)) % 5 == 0
    make_fixtures.write_case("iris_full", iris.data[~held_out], iris.data[held_out], 3, "full", 1e-6, rng)
    scaled = (wine.data - wine.data.mean(0)) / wine.data.std(0)
    held_out = np.arange(len(scaled)) % 5 == 0
    make_fixtures.write_case("wine_diag", scaled[~held_out], scaled[held_out], 3, "diag", 1e-6, rng)


if __name__ == "__main__":
    main()
