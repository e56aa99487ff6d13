#!/usr/bin/env python3
"""Reference DCGAN in PyTorch: the architecture and hyperparameters of deepstyle's `gan` module
(pytorch/examples dcgan/main.py generalised to 32/64/128 px), for speed and quality comparisons.

    python3 dcgan_torch.py --image-size 64 --batch 64 --iters 10 --threads 2      # timing only
    python3 dcgan_torch.py --fashion-mnist DIR --image-size 32 --channels 1 --iters 3000 --out DIR

Prints seconds per iteration (after --warmup iterations). With --out it writes
`generator.pt` and `samples.npy` (10,000 images from seeds drawn by torch, uint8 N x C x S x S)
so a Frechet distance can be computed on the same footing as deepstyle's generator.
Needs torch (and numpy for --out / --fashion-mnist); not used by the tests or CI.
"""
import argparse, gzip, math, os, struct, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def blocks(size):
    return int(math.log2(size)) - 3


class Generator(nn.Module):
    def __init__(self, size, nz, ngf, nc):
        super().__init__()
        b = blocks(size)
        ch = ngf * 2 ** b
        layers = [nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(b):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z.view(z.size(0), -1, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, size, ndf, nc):
        super().__init__()
        b = blocks(size)
        ch = ndf
        layers = [nn.Conv2d(nc, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(b):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1)


def set_requires_grad(net, flag):
    for p in net.parameters():
        p.requires_grad_(flag)


def init_weights(m):
    name = m.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def lanczos3_matrix(src, dst):
    """The (dst x src) resampling matrix of the `image` crate's Lanczos3 filter (deepstyle's
    resize): taps within 3 source pixels (scaled when shrinking), normalised to sum 1."""
    import numpy as np
    ratio = src / dst
    scale = max(ratio, 1.0)
    support = 3.0 * scale

    def sinc(x):
        return 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)

    m = np.zeros((dst, src), dtype=np.float64)
    for out in range(dst):
        centre = (out + 0.5) * ratio
        left = min(max(int(math.floor(centre - support)), 0), src - 1)
        right = min(max(int(math.ceil(centre + support)), left + 1), src)
        centre -= 0.5
        for i in range(left, right):
            t = (i - centre) / scale
            m[out, i] = sinc(t) * sinc(t / 3.0) if abs(t) < 3.0 else 0.0
        m[out] /= m[out].sum()
    return m


def load_fashion_mnist(root, size, resize="bicubic"):
    import numpy as np
    path = os.path.join(root, "train-images-idx3-ubyte.gz")
    raw = gzip.open(path).read() if os.path.exists(path) else open(path[:-3], "rb").read()
    n, h, w = struct.unpack(">III", raw[4:16])
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, h, w)
    if resize == "lanczos":
        # As deepstyle trains: Lanczos3 rows then columns, rounded back to 8 bits.
        rows, cols = lanczos3_matrix(h, size), lanczos3_matrix(w, size)
        resized = np.matmul(np.matmul(rows, pixels.astype(np.float64)), cols.T)
        images = torch.from_numpy(np.clip(np.rint(resized), 0, 255).astype(np.float32))
    else:
        images = torch.from_numpy(pixels.copy()).float()
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 255)
    return images / 127.5 - 1.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fashion-mnist", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resize", choices=["bicubic", "lanczos"], default="bicubic",
                   help="how Fashion-MNIST's 28 px become --image-size (lanczos: as deepstyle does)")
    p.add_argument("--save-at", default="", help="also write samples_ITER.npy at these iterations (comma-separated)")
    p.add_argument("--layers", action="store_true", help="time each conv layer's forward and backward instead")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.layers:
        return time_layers(a)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    G = Generator(a.image_size, a.nz, a.width, a.channels).to(dev)
    D = Discriminator(a.image_size, a.width, a.channels).to(dev)
    G.apply(init_weights)
    D.apply(init_weights)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = load_fashion_mnist(a.fashion_mnist, a.image_size, a.resize).to(dev) if a.fashion_mnist else None
    bce = nn.BCEWithLogitsLoss()
    timed, start = 0, None
    for it in range(a.iters):
        if it == a.warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        if data is not None:
            real = data[torch.randint(0, data.size(0), (a.batch,), device=dev)]
        else:
            real = torch.rand(a.batch, a.channels, a.image_size, a.image_size, device=dev) * 2 - 1
        z = torch.randn(a.batch, a.nz, device=dev)
        fake = G(z)
        opt_d.zero_grad(set_to_none=True)
        d_loss = bce(D(real), torch.ones(a.batch, device=dev)) + bce(D(fake.detach()), torch.zeros(a.batch, device=dev))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        # D's parameters take no gradient in G's step (it would be thrown away), as in ours
        # (`Discriminator::forward_for_generator`): both sides do the same work.
        set_requires_grad(D, False)
        g_loss = bce(D(fake), torch.ones(a.batch, device=dev))
        g_loss.backward()
        set_requires_grad(D, True)
        opt_g.step()
        if it >= a.warmup:
            timed += 1
        if (it + 1) % 500 == 0:
            print(f"iter {it + 1}: D {d_loss.item():.3f} G {g_loss.item():.3f}", flush=True)
        if a.out and str(it + 1) in a.save_at.split(","):
            save_samples(G, a, dev, f"samples_{it + 1}.npy")
            G.train()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    if timed:
        print(f"torch secs_per_iter {(time.perf_counter() - start) / timed:.4f}")
        import resource
        print(f"torch peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    if a.out:
        torch.save(G.state_dict(), os.path.join(a.out, "generator.pt"))
        save_samples(G, a, dev, "samples.npy")


def time_layers(a):
    """One line per conv layer of G and D: `layer NAME forward_ms backward_ms` (median of --iters)."""
    torch.manual_seed(a.seed)
    G = Generator(a.image_size, a.nz, a.width, a.channels)
    D = Discriminator(a.image_size, a.width, a.channels)
    x = torch.randn(a.batch, a.nz, 1, 1)
    for net, prefix in ((G, "G"), (D, "D")):
        if net is D:
            x = torch.randn(a.batch, a.channels, a.image_size, a.image_size)
        convs = [m for m in net.main if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        for i, conv in enumerate(convs):
            inp = x.detach().clone().requires_grad_(True)
            fwd, bwd = [], []
            for _ in range(a.warmup + a.iters):
                t0 = time.perf_counter()
                out = conv(inp)
                t1 = time.perf_counter()
                out.backward(torch.ones_like(out))
                t2 = time.perf_counter()
                fwd.append(t1 - t0)
                bwd.append(t2 - t1)
                conv.weight.grad = None
                inp.grad = None
            med = lambda v: sorted(v[a.warmup:])[len(v[a.warmup:]) // 2] * 1000
            print(f"layer {prefix}{i} {med(fwd):.3f} {med(bwd):.3f}", flush=True)
            x = out.detach()


def save_samples(G, a, dev, name):
    """10,000 samples in eval mode (running BatchNorm statistics), as deepstyle samples."""
    import numpy as np
    os.makedirs(a.out, exist_ok=True)
    G.eval()
    with torch.no_grad():
        imgs = torch.cat([G(torch.randn(500, a.nz, device=dev)) for _ in range(20)])
    arr = ((imgs.clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
    np.save(os.path.join(a.out, name), arr)
    print(f"wrote {arr.shape[0]} samples to {os.path.join(a.out, name)}", flush=True)


if __name__ == "__main__":
    main()
