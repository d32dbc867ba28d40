"""Train an RNNClassifier on a Dask array larger than the memory of every worker together.

A LocalCluster of two worker processes, each capped at ``--memory-limit``,
trains on sequences that Dask draws lazily from a seed, block by block: the
training array (``--gigabytes``, 1.5 GB by default, against 700 MB a worker)
never exists whole anywhere. ``numbarnn.dask.Incremental`` hands one block at
a time to the classifier's ``partial_fit`` (one epoch over the block), and then
scores it, blockwise, on test sequences drawn from another seed. The label is
whether a sequence's first feature sums above zero (chance: one half). It
prints the accuracy, the times, and each worker's peak memory.

Needs the ``dask`` extra (``pip install "numbarnn[dask]"``). Run it as it is,
or in a few seconds on a small array::

    python examples/dask_incremental.py
    python examples/dask_incremental.py --small
"""

import argparse
import resource
import time
import warnings

import numpy as np

STEPS, FEATURES = 25, 32  # 3,200 bytes a float32 sequence
BLOCK = 10_000  # samples a block: 32 MB
SMALL = dict(gigabytes=0.064, n_test=4_000, block=1_000)  # --small: 20 blocks of 3.2 MB, for a quick check


def sequences(n_samples, seed, block=BLOCK):
    """Lazy (n_samples, STEPS, FEATURES) float32 normal noise, chunked along samples, and its int64 labels."""
    import dask.array as da

    X = da.random.default_rng(seed).standard_normal((n_samples, STEPS, FEATURES), chunks=(block, STEPS, FEATURES),
                                                    dtype=np.float32)  # fmt: skip
    y = (X[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    return X, y


def _peak_rss_mb():
    """Peak resident memory of this process in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def main(gigabytes=1.5, memory_limit="700MB", n_test=20_000, block=BLOCK, verbose=True):
    """Train and score; return (test accuracy, training seconds, training array bytes, worker peak memory in bytes)."""
    import distributed
    from dask.utils import format_bytes, parse_bytes

    from numbarnn import RNNClassifier
    from numbarnn.dask import Incremental

    n_train = int(gigabytes * 1e9) // (STEPS * FEATURES * 4)
    X, y = sequences(n_train, seed=0, block=block)
    X_test, y_test = sequences(n_test, seed=1, block=block)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's notes on ports
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                                           dashboard_address=None, env={"NUMBARNN_NUM_THREADS": "1"})  # fmt: skip
    with cluster, distributed.Client(cluster) as client:
        clf = Incremental(RNNClassifier(cell="gru", hidden_layer_sizes=(16,), batch_size=64, random_state=0),
                          random_state=0)  # fmt: skip
        start = time.perf_counter()
        clf.fit(X, y, classes=[0, 1])
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = clf.score(X_test, y_test)
        score_seconds = time.perf_counter() - start
        peaks = client.run(_peak_rss_mb)
    peak = max(peaks.values()) * 1e6
    if verbose:
        block_bytes, limit = format_bytes(X.nbytes / X.numblocks[0]), format_bytes(parse_bytes(memory_limit))
        print(f"training array: {X.shape} {X.dtype}, {format_bytes(X.nbytes)} in {X.numblocks[0]} blocks of "
              f"{block_bytes}; 2 workers of {limit}")  # fmt: skip
        print(f"Incremental fit (one epoch, one partial_fit a block): {train_seconds:.1f} s "
              f"({n_train / train_seconds:,.0f} sequences/s)")  # fmt: skip
        print(f"test accuracy {accuracy:.4f} on {n_test:,} sequences (chance 0.5), scored in {score_seconds:.1f} s")
        print("worker peak memory: " + ", ".join(format_bytes(mb * 1e6) for mb in peaks.values()))
    return accuracy, train_seconds, X.nbytes, peak


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=1.5, help="size of the training array (default 1.5)")
    parser.add_argument("--memory-limit", default="700MB", help="memory limit of each worker (default 700MB)")
    parser.add_argument("--small", action="store_true", help="64 MB in 3.2 MB blocks (overrides --gigabytes)")
    args = parser.parse_args()
    main(**{"gigabytes": args.gigabytes, **(SMALL if args.small else {})}, memory_limit=args.memory_limit)
