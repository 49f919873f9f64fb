#!/usr/bin/env python3
"""Expected outputs of the TensorFlow wine-quality model, computed with real TensorFlow.

What
    Scores the first N rows (default 20) of
    examples/model_serving/data/winequality_red.csv with the frozen graph
    examples/model_serving/data/optimized_WineQuality.pb and writes
    examples/model_serving/data/expected_tf.csv, which the unit tests of
    examples/model_serving/tensorflow.rs compare the tract-based scorer against.

    The graph is a Keras dense network: input placeholder `dense_1_input`
    (float32, shape [batch, 11], the 11 features in CSV column order, no
    scaling), then Dense(12, relu) -> Dense(8, relu) -> Dense(9, sigmoid); the
    output node is `dense_3/Sigmoid`, shape [batch, 9]. Each of the 9 values is
    an independent sigmoid score for quality class 0..8 (they do not sum to 1);
    the predicted quality is the index of the largest score (first one on ties),
    as in the Lightbend model-serving tutorial the model comes from.

How
    The scores come from TensorFlow itself (tf.compat.v1 Session on the
    imported GraphDef). As an independent cross-check the script also
    recomputes the network with numpy from the graph's Const weights and fails
    if the two differ by more than 1e-5.

    Output columns: row (0-based CSV row), class (argmax), score_0..score_8.
    Scores are float32 values written with repr() of their exact double value,
    so they round-trip bit-exactly to f32.

Usage (from the repository root)
    python3 scripts/tf_expected.py [--rows N]

Requirements (PyPI)
    pip install tensorflow-cpu numpy     # tested with tensorflow-cpu 2.21.0, numpy 2.4
"""

import argparse
import csv
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "examples", "model_serving", "data")
MODEL = os.path.join(DATA, "optimized_WineQuality.pb")
CSV_IN = os.path.join(DATA, "winequality_red.csv")
CSV_OUT = os.path.join(DATA, "expected_tf.csv")

INPUT = "dense_1_input:0"
OUTPUT = "dense_3/Sigmoid:0"


def read_features(rows):
    feats = []
    with open(CSV_IN, newline="") as f:
        for i, rec in enumerate(csv.reader(f, delimiter=";")):
            if i >= rows:
                break
            # Python float (correctly rounded f64) then f32, like Rust's
            # `str::parse::<f32>` for these short decimals.
            feats.append([np.float32(float(v)) for v in rec[:11]])
    return np.array(feats, dtype=np.float32)


def load_graph_def():
    gd = tf.compat.v1.GraphDef()
    with open(MODEL, "rb") as f:
        gd.ParseFromString(f.read())
    return gd


def score_tensorflow(gd, x):
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        return sess.run(OUTPUT, feed_dict={INPUT: x})


def score_numpy(gd, x):
    consts = {
        n.name: tf.make_ndarray(n.attr["value"].tensor).astype(np.float64)
        for n in gd.node
        if n.op == "Const"
    }
    h = x.astype(np.float64)
    h = np.maximum(h @ consts["dense_1/kernel"] + consts["dense_1/bias"], 0.0)
    h = np.maximum(h @ consts["dense_2/kernel"] + consts["dense_2/bias"], 0.0)
    h = h @ consts["dense_3/kernel"] + consts["dense_3/bias"]
    return 1.0 / (1.0 + np.exp(-h))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20)
    args = ap.parse_args()

    x = read_features(args.rows)
    gd = load_graph_def()
    out = score_tensorflow(gd, x)
    assert out.dtype == np.float32 and out.shape == (len(x), 9), (out.dtype, out.shape)

    check = score_numpy(gd, x)
    diff = float(np.max(np.abs(out.astype(np.float64) - check)))
    if diff > 1e-5:
        sys.exit(f"TensorFlow and numpy disagree: max |diff| = {diff}")

    with open(CSV_OUT, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["row", "class"] + [f"score_{i}" for i in range(out.shape[1])])
        for i, scores in enumerate(out):
            w.writerow([i, int(np.argmax(scores))] + [repr(float(s)) for s in scores])
    print(
        f"wrote {len(out)} rows to {os.path.relpath(CSV_OUT, ROOT)} "
        f"(tensorflow {tf.__version__}; numpy cross-check max |diff| = {diff:.2e})"
    )


if __name__ == "__main__":
    main()
