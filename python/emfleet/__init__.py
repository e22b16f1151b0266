"""scikit-learn estimators computed by the emfleet binary, in one process or on a fleet of workers.

    import emfleet
    gm = emfleet.GaussianMixture(n_components=16, workers=2).fit(X)   # as sklearn.mixture.GaussianMixture

The binary is found through `EMFLEET_BIN`, then `.build/release/emfleet` in the checkout this package
was installed from, then `PATH`.
"""
from ._binary import EmfleetError, EmfleetValueError, find_binary
from .cluster import KMeans
from .mixture import BayesianGaussianMixture, GaussianMixture
from .neural_network import MLPClassifier, MLPRegressor

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "KMeans", "MLPClassifier", "MLPRegressor",
           "EmfleetError", "EmfleetValueError", "find_binary"]
__version__ = "0.1.0"
