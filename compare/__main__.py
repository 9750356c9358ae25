"""python -m compare: prove the two twins are the same network, and time them."""
import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m compare",
        description="Train the NumPy twin and the Keras twin of one dense network from the same "
                    "weights on the same batches, and show that they agree.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", default="auto", help="auto, sample, or a mnist.npz / IDX folder")
    return parser


def main(argv=None):
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
