#!/usr/bin/env python3
"""Reference class-conditional DCGAN in PyTorch: the architecture and training of deepstyle's
`train-gan --conditional` (src/gan/model.rs, condition.rs, train.rs), to say whether ours is no
worse at the same budget.

  G: DCGAN's transposed convolutions; each BatchNorm without its own scale and shift, followed by
     a per-class gain (init N(1, 0.02)) and shift (init 0), then ReLU; Tanh out.
  D: DCGAN's convolutions with BatchNorm and LeakyReLU(0.2) (or spectral norm instead of
     BatchNorm), the 4x4 logit, plus the projection <embed(y), sum_hw(features)> (embed N(0, 0.02)).
  Training: one D and one G step an iteration, fakes drawn for the real batch's classes;
  BCE or hinge; Adam; optional EMA of G (decay min(d, (1+t)/(10+t)), BatchNorm statistics too);
  optional auxiliary classifier (AC-GAN, `--aux-class W`): class logits = mean_hw(features) @
  classifierᵀ (classifier N(0, 0.02), no bias), W x cross-entropy added to D's loss on the real
  images and to G's on its own; optional variety check (`--minibatch-stddev`): the 4x4 logit conv
  also sees two maps, the per-class standard deviation over the batch of the last and of the
  first features, averaged over features and positions; optional packing (`--pack N`, PacGAN):
  the batch's images are grouped by class, each class's rows that do not fill a pack of N sit
  the step out, the fakes are drawn for the rows kept, and D judges each pack of one class
  stacked on its channels.

    python3 cdcgan_torch.py --fashion-mnist DIR --iters 3000 --out DIR [--loss hinge] [--ema 0.999]
        [--spectral-norm] [--lr 2e-4] [--lr-d 2e-4] [--beta1 0.5] [--beta2 0.999] [--threads 2]
        [--aux-class 1] [--minibatch-stddev] [--pack 2]

Writes DIR/samples.npy: 10,000 samples in eval mode, 1,000 a class in Fashion-MNIST's label order
(uint8 N x 1 x 32 x 32), for `deepstyle fid --npy DIR/samples.npy --npy-by-class`. Needs torch
and numpy; not used by the tests or CI.
"""
import argparse, copy, os, time

import torch
import torch.nn as nn
import torch.nn.functional as F

from dcgan_torch import blocks, load_fashion_mnist, lanczos3_matrix  # noqa: F401

CLASSES = 10


class ConditionalNorm(nn.Module):
    def __init__(self, ch, k):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=False)
        self.gain = nn.Parameter(torch.randn(k, ch) * 0.02 + 1.0)
        self.shift = nn.Parameter(torch.zeros(k, ch))

    def forward(self, x, y):
        n, c = x.shape[:2]
        return self.bn(x) * (y @ self.gain).view(n, c, 1, 1) + (y @ self.shift).view(n, c, 1, 1)


class Generator(nn.Module):
    def __init__(self, size, nz, ngf, nc, k):
        super().__init__()
        b = blocks(size)
        ch = ngf * 2 ** b
        self.convs = nn.ModuleList([nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False)])
        self.norms = nn.ModuleList([ConditionalNorm(ch, k)])
        for _ in range(b):
            self.convs.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            self.norms.append(ConditionalNorm(ch // 2, k))
            ch //= 2
        self.out = nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False)

    def forward(self, z, y):
        x = z.view(z.size(0), -1, 1, 1)
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x), y))
        return torch.tanh(self.out(x))


def class_spread(features, y):
    """Per image (N, 1): the standard deviation of each feature over the batch's images of the
    image's class (class rows y), averaged over features and positions."""
    flat = features.flatten(1)
    counts = y.sum(0).clamp(min=1).unsqueeze(1)
    mean = (y.t() @ flat) / counts
    variance = (y.t() @ (flat - y @ mean) ** 2) / counts
    return y @ (variance + 1e-8).sqrt().mean(1, keepdim=True)


class Discriminator(nn.Module):
    def __init__(self, size, ndf, nc, k, sn, aux=False, stddev=False):
        super().__init__()
        wrap = nn.utils.spectral_norm if sn else (lambda m: m)
        b = blocks(size)
        ch = ndf
        self.first = wrap(nn.Conv2d(nc, ch, 4, 2, 1, bias=False))
        layers = []
        for _ in range(b):
            layers.append(wrap(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False)))
            if not sn:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2))
            ch *= 2
        self.middle = nn.Sequential(*layers)
        self.stddev = stddev
        self.out = wrap(nn.Conv2d(ch + 2 * int(stddev), 1, 4, 1, 0, bias=False))
        self.embed = nn.Parameter(torch.randn(k, ch) * 0.02)
        self.classifier = nn.Parameter(torch.randn(k, ch) * 0.02) if aux else None

    def forward(self, x, y):
        return self.judge(x, y)[0]

    def judge(self, x, y):
        """The real-or-fake logits and, with the auxiliary classifier, class logits."""
        first = F.leaky_relu(self.first(x), 0.2)
        h = self.middle(first)
        spreads = [h, first] if self.stddev else []
        maps = [class_spread(f, y).view(-1, 1, 1, 1).expand(-1, 1, *h.shape[2:]) for f in spreads]
        logits = self.out(torch.cat([h] + maps, 1)).view(-1)
        logits = logits + ((y @ self.embed) * h.sum(dim=(2, 3))).sum(dim=1)
        classes = h.mean(dim=(2, 3)) @ self.classifier.t() if self.classifier is not None else None
        return logits, classes


def pack_order(labels, pack):
    """Row indices grouped into packs of `pack` rows of one label, labels in order of first
    appearance; a label's last rows that do not fill a pack are left out."""
    rows = {}
    for i, label in enumerate(labels.tolist()):
        rows.setdefault(label, []).append(i)
    return torch.tensor([i for r in rows.values() for i in r[:len(r) // pack * pack]], dtype=torch.long)


def class_loss(class_logits, y, weight):
    """weight x cross-entropy against the class rows y, 0 without a classifier."""
    if class_logits is None:
        return 0.0
    return weight * -(y * F.log_softmax(class_logits, dim=1)).sum(dim=1).mean()


def init_convs(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def load_labels(root):
    import gzip, struct
    import numpy as np
    path = os.path.join(root, "train-labels-idx1-ubyte.gz")
    raw = gzip.open(path).read() if os.path.exists(path) else open(path[:-3], "rb").read()
    (n,) = struct.unpack(">I", raw[4:8])
    return torch.from_numpy(np.frombuffer(raw[8:8 + n], dtype=np.uint8).astype("int64"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fashion-mnist", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--iters", type=int, default=3000)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--loss", choices=["bce", "hinge"], default="bce")
    p.add_argument("--ema", type=float, default=None)
    p.add_argument("--spectral-norm", action="store_true")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-d", type=float, default=None)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--aux-class", type=float, default=None)
    p.add_argument("--minibatch-stddev", action="store_true")
    p.add_argument("--pack", type=int, default=1)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    G = Generator(a.image_size, a.nz, a.width, 1, CLASSES)
    D = Discriminator(a.image_size, a.width, a.pack, CLASSES, a.spectral_norm, a.aux_class is not None,
                      a.minibatch_stddev)
    G.apply(init_convs)
    D.apply(init_convs)
    ema = copy.deepcopy(G) if a.ema else None
    betas = (a.beta1, a.beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=a.lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=a.lr_d or a.lr, betas=betas)
    data = load_fashion_mnist(a.fashion_mnist, a.image_size, "lanczos")
    labels = load_labels(a.fashion_mnist)
    eye = torch.eye(CLASSES)
    bce = nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for it in range(a.iters):
        pick = torch.randint(0, data.size(0), (a.batch,))
        if a.pack > 1:
            pick = pick[pack_order(labels[pick], a.pack)]
        real, y = data[pick], eye[labels[pick]]
        n = real.size(0) // a.pack
        fake = G(torch.randn(real.size(0), a.nz), y)
        # A pack's images on the channels, judged with the pack's class.
        real, y_d = real.view(n, a.pack, a.image_size, a.image_size), y[::a.pack]
        opt_d.zero_grad(set_to_none=True)
        packed = lambda images: images.view(n, a.pack, a.image_size, a.image_size)
        (real_logits, real_classes), fake_logits = D.judge(real, y_d), D(packed(fake.detach()), y_d)
        if a.loss == "bce":
            d_loss = bce(real_logits, torch.ones(n)) + bce(fake_logits, torch.zeros(n))
        else:
            d_loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        d_loss = d_loss + class_loss(real_classes, y_d, a.aux_class)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        for q in D.parameters():
            q.requires_grad_(False)
        fooled, fooled_classes = D.judge(packed(fake), y_d)
        g_loss = bce(fooled, torch.ones(n)) if a.loss == "bce" else -fooled.mean()
        g_loss = g_loss + class_loss(fooled_classes, y_d, a.aux_class)
        g_loss.backward()
        for q in D.parameters():
            q.requires_grad_(True)
        opt_g.step()
        if ema is not None:
            decay = min(a.ema, (1 + it) / (10 + it))
            with torch.no_grad():
                for e, v in zip(ema.state_dict().values(), G.state_dict().values()):
                    if e.dtype.is_floating_point:
                        e.mul_(decay).add_(v, alpha=1 - decay)
        if (it + 1) % 500 == 0:
            print(f"iter {it + 1}: D {d_loss.item():.3f} G {g_loss.item():.3f} "
                  f"({(time.perf_counter() - start) / (it + 1):.3f} s/iter)", flush=True)
    save_samples(ema or G, a)


def save_samples(G, a):
    import numpy as np
    os.makedirs(a.out, exist_ok=True)
    G.eval()
    eye = torch.eye(CLASSES)
    with torch.no_grad():
        imgs = torch.cat([G(torch.randn(1000, a.nz), eye[torch.full((1000,), k)]) for k in range(CLASSES)])
    arr = ((imgs.clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    np.save(os.path.join(a.out, "samples.npy"), arr)
    print(f"wrote {arr.shape[0]} samples, 1,000 a class, to {os.path.join(a.out, 'samples.npy')}", flush=True)


if __name__ == "__main__":
    main()
