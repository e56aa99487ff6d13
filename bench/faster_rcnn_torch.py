"""The reference for `cargo bench --bench faster_rcnn`: torchvision's
fasterrcnn_mobilenet_v3_large_fpn (random initialisation, 4 classes with background) on the
same 512x512 images, on the CPU with the same thread count: milliseconds per image for
inference (eval mode, one image per call) and per training iteration (one image, its boxes, SGD).

    python bench/faster_rcnn_torch.py --threads 2 --rounds 3 IMAGE.png...

Prints one JSON line: {"infer_ms": ..., "train_ms": ..., "torch": ..., "torchvision": ...}.
"""

import argparse
import json
import statistics
import time

import torch
import torchvision
from PIL import Image
from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn
from torchvision.transforms.functional import to_tensor

parser = argparse.ArgumentParser()
parser.add_argument("images", nargs="+")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--rounds", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

model = fasterrcnn_mobilenet_v3_large_fpn(
    weights=None, weights_backbone=None, num_classes=4, min_size=512, max_size=512
)
images = [to_tensor(Image.open(p).convert("RGB")) for p in args.images]
targets = [
    {
        "boxes": torch.tensor([[60.0, 80.0, 260.0, 440.0], [300.0, 40.0, 480.0, 220.0]]),
        "labels": torch.tensor([1, 3]),
    }
    for _ in images
]


def infer_round():
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for image in images:
            model([image])
    return (time.perf_counter() - start) * 1000 / len(images)


optimiser = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)


def train_round():
    model.train()
    start = time.perf_counter()
    for image, target in zip(images, targets):
        losses = model([image], [target])
        loss = sum(losses.values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return (time.perf_counter() - start) * 1000 / len(images)


infer_round()
train_round()
infer = statistics.median(infer_round() for _ in range(args.rounds))
train = statistics.median(train_round() for _ in range(args.rounds))
print(json.dumps({"infer_ms": infer, "train_ms": train, "torch": torch.__version__,
                  "torchvision": torchvision.__version__}))
