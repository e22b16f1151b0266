#!/usr/bin/env python3
"""Exports scikit-learn's digits dataset into Tests/Fixtures/ with scikit-learn's own accuracy.

Writes digits_train.npy / digits_train_labels.npy / digits_test.npy / digits_test_labels.npy (a
fixed stratified 75/25 split) and digits_sklearn.json: the held-out accuracy of MLPClassifier
(hidden 64, ReLU, Adam, lr 0.001, batch 32, 30 epochs, no L2, inputs standardised with the
training mean and standard deviation, 1 for constant columns) for seeds 0-4 and their mean.
`swift test` compares emfleet's mean over 5 seeds with it; no Python is needed there.
"""
import json
import os
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
X, y = load_digits(return_X_y=True)
X = X.astype(np.float64)
train_x, test_x, train_y, test_y = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
np.save(os.path.join(out, "digits_train.npy"), train_x)
np.save(os.path.join(out, "digits_train_labels.npy"), train_y.astype(np.int64))
np.save(os.path.join(out, "digits_test.npy"), test_x)
np.save(os.path.join(out, "digits_test_labels.npy"), test_y.astype(np.int64))

mean, std = train_x.mean(0), train_x.std(0)
std[std == 0] = 1
scaled_train, scaled_test = (train_x - mean) / std, (test_x - mean) / std
warnings.simplefilter("ignore")
accuracies = []
for seed in range(5):
    model = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", solver="adam", learning_rate_init=0.001,
                          batch_size=32, max_iter=30, alpha=0.0, tol=0, n_iter_no_change=1000, random_state=seed, shuffle=True)
    model.fit(scaled_train, train_y)
    accuracies.append(model.score(scaled_test, test_y))
report = {"hidden": [64], "epochs": 30, "batch_size": 32, "learning_rate": 0.001, "accuracies": accuracies,
          "mean_accuracy": float(np.mean(accuracies)), "train_rows": len(train_x), "test_rows": len(test_x)}
with open(os.path.join(out, "digits_sklearn.json"), "w") as f:
    json.dump(report, f, indent=2)
print(report)
