"""Classify GunPoint series inside GridSearchCV over the cell and the layer sizes.

Each series of 150 values is read as 30 steps of 5 values. The grid search runs
its fits in two processes; the best model is then scored on the test series
and compared with 1-nearest-neighbour.

Run it as it is::

    python examples/gunpoint_grid_search.py
"""

import time
import warnings

from sklearn.model_selection import GridSearchCV, StratifiedKFold

from numbarnn import RNNClassifier
from numbarnn.datasets import load_gunpoint
from numbarnn.demo import one_nn_accuracy


def main(max_iter=150, cells=("lstm", "gru"), sizes=((16,), (32,)), n_jobs=2, verbose=True):
    """Run the search; return (best parameters, test accuracy of the best model, 1-NN accuracy)."""
    X_train, y_train, X_test, y_test = load_gunpoint()
    A, B = X_train.reshape(50, 30, 5), X_test.reshape(150, 30, 5)
    search = GridSearchCV(
        RNNClassifier(max_iter=max_iter, learning_rate_init=0.01, batch_size=16, tol=1e-6, n_iter_no_change=50,
                      random_state=0),  # fmt: skip
        {"cell": list(cells), "hidden_layer_sizes": list(sizes)},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(A, y_train)
    seconds = time.perf_counter() - start
    accuracy = float(search.score(B, y_test))
    baseline = one_nn_accuracy(X_train, y_train, X_test, y_test)
    if verbose:
        for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
            print(f"{params}: cross-validated accuracy {score:.3f}")
        print(f"search: {len(search.cv_results_['params'])} candidates x 3 folds in {seconds:.1f} s ({n_jobs} processes)")
        print(f"best {search.best_params_}: test accuracy {accuracy:.3f} (1-nearest-neighbour: {baseline:.3f})")
    return search.best_params_, accuracy, baseline


if __name__ == "__main__":
    main()
