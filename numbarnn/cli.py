"""The ``numbarnn`` command: ``numbarnn demo`` trains models on the shipped data and prints their scores."""

import argparse
import sys

__all__ = ["main"]


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def build_parser():
    """The argument parser of the ``numbarnn`` command."""
    parser = argparse.ArgumentParser(prog="numbarnn", description="Fast recurrent networks on the CPU.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train recurrent models on shipped real data and compare them with baselines",
        description="Forecast airline passengers (against the seasonal-naive forecast) and classify GunPoint "
        "series (against 1-nearest-neighbour), printing the scores and how long each fit took.",
    )
    demo.add_argument("--cell", choices=["lstm", "gru", "simple"], default="lstm",
                      help="recurrent cell of both models (default: lstm)")  # fmt: skip
    demo.add_argument("--epochs", type=_positive_int, default=None,
                      help="maximum epochs of each fit (default: 300 for the forecaster, 200 for the classifier)")  # fmt: skip
    demo.add_argument("--seed", type=int, default=0, help="random_state of both models (default: 0)")
    demo.add_argument("--plot", metavar="FILE.png", default=None,
                      help="save the forecast and the loss curves to an image (needs matplotlib)")  # fmt: skip
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv=None):
    """Run the ``numbarnn`` command with ``argv`` (``sys.argv[1:]`` by default); return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        try:
            run_demo(cell=args.cell, epochs=args.epochs, seed=args.seed, plot=args.plot, verbose=0 if args.quiet else 1)
        except ImportError as exc:
            print(f"numbarnn demo: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
