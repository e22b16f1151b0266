"""A notebook's worth of emfleet from Python: a mixture on 1,000,000 rows fitted on 2 worker
processes, K chosen by BIC, and a classifier trained on the mixture's posteriors.

    pip install ./python && python3 examples/python/fleet_notebook.py

Every fit and prediction runs in the emfleet binary; the rows go to it as one .npy file, read in
place (a numpy.memmap), never copied. EMFLEET_EXAMPLE_ROWS sets another row count (the check
script runs it smaller); EMFLEET_EXAMPLE_DIR keeps the data file there instead of a temporary one.
"""
import os
import tempfile
import time

import numpy as np

import emfleet

rows = int(os.environ.get("EMFLEET_EXAMPLE_ROWS", "1000000"))
true_k, features = 5, 4
scratch = None if os.environ.get("EMFLEET_EXAMPLE_DIR") else tempfile.TemporaryDirectory(prefix="emfleet-example-")
folder = os.environ.get("EMFLEET_EXAMPLE_DIR") or scratch.name

# %% Data: five overlapping Gaussian blobs in four dimensions, written once as .npy.
rng = np.random.default_rng(7)
centres = rng.normal(scale=4.0, size=(true_k, features))
component = rng.choice(true_k, size=rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
X = centres[component] + rng.normal(size=(rows, features)) * rng.uniform(0.6, 1.6, size=(true_k, 1))[component]
path = os.path.join(folder, "rows.npy")
np.save(path, X)
X = np.load(path, mmap_mode="r")  # from here on the binary reads the file itself
print(f"{rows} rows × {features} features in {path}")

# %% Choose K by BIC: one fit per candidate, each on 2 local worker processes, with 4 seeded starts
# (one start stops in a local optimum often enough for BIC to prefer too many components).
started = time.perf_counter()
table = []
for k in range(2, 9):
    gm = emfleet.GaussianMixture(n_components=k, n_init=4, random_state=0, workers=2).fit(X)
    table.append((k, gm.bic(X), gm))
    print(f"K = {k}:  BIC {table[-1][1]:16.1f}  ({gm.n_iter_} iterations)")
best_k, best_bic, best = min(table, key=lambda row: row[1])
print(f"BIC chooses K = {best_k} ({time.perf_counter() - started:.1f} s for {len(table)} fits)")

# %% A classifier on the posteriors: which generating blob each row came from.
posteriors = best.predict_proba(X)
held_out = rng.random(rows) < 0.2
net = emfleet.MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, batch_size=1000, random_state=0, workers=2)
net.fit(posteriors[~held_out], component[~held_out])
accuracy = net.score(posteriors[held_out], component[held_out])
print(f"classifier on the {best_k} posteriors: held-out accuracy {accuracy:.4f} over {held_out.sum()} rows")

del X, posteriors  # the memmap, before its file goes
if scratch is not None:
    scratch.cleanup()
if best_k != true_k or accuracy < 0.9:
    raise SystemExit(f"expected BIC to find {true_k} components and accuracy above 0.9")
