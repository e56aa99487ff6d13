"""Writes tests/data/detect/roi_align.json: torchvision.ops.roi_align on fixed tensors, for the
project's RoIAlign to be checked against (forward values and the features' gradient).

Run from the repository root with a Python that has torch and torchvision (PyPI):
    python tools/roi_align_fixture.py
The studio and its tests never need Python; the fixture is committed.
"""

import json
import math

import torch
import torchvision
from torchvision.ops import roi_align

N, C, H, W = 2, 3, 10, 12
features = torch.tensor(
    [math.sin(i * 0.37) + 0.1 * (i % 7) for i in range(N * C * H * W)], dtype=torch.float32
).reshape(N, C, H, W)
# Rows [batch_index, x0, y0, x1, y1] in image pixels (scale 0.5): inside, over the edges, tiny,
# larger than the map, and in the second image.
rois = torch.tensor(
    [
        [0, 2.0, 3.0, 15.0, 11.0],
        [1, -4.0, 6.0, 9.0, 25.0],
        [0, 8.0, 8.0, 8.6, 8.3],
        [1, -10.0, -10.0, 40.0, 30.0],
        [1, 12.5, 1.5, 22.0, 17.0],
    ],
    dtype=torch.float32,
)
cases = []
for aligned in (False, True):
    for sampling_ratio in (2, -1):
        f = features.clone().requires_grad_(True)
        out = roi_align(f, rois, output_size=(3, 4), spatial_scale=0.5,
                        sampling_ratio=sampling_ratio, aligned=aligned)
        mix = torch.cos(torch.arange(out.numel(), dtype=torch.float32) * 0.21).reshape(out.shape)
        (out * mix).sum().backward()
        cases.append({
            "aligned": aligned,
            "sampling_ratio": sampling_ratio,
            "output": out.detach().flatten().tolist(),
            "mix": mix.flatten().tolist(),
            "grad": f.grad.flatten().tolist(),
        })

fixture = {
    "torch": torch.__version__,
    "torchvision": torchvision.__version__,
    "features_shape": [N, C, H, W],
    "features": features.flatten().tolist(),
    "rois": rois.flatten().tolist(),
    "output_size": [3, 4],
    "spatial_scale": 0.5,
    "cases": cases,
}
with open("tests/data/detect/roi_align.json", "w") as f:
    json.dump(fixture, f)
print("tests/data/detect/roi_align.json:", len(cases), "cases")
