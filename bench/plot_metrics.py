#!/usr/bin/env python3
"""Draws a run's metrics.jsonl as a PNG (D and G loss, TensorBoard-style smoothing), with the
standard library only:  python3 bench/plot_metrics.py RUN_DIR/metrics.jsonl out.png [smoothing]"""
import json, struct, sys, zlib

W, H, PAD = 720, 300, 36
COLOURS = {"d_loss": (230, 90, 60), "g_loss": (60, 130, 230)}


def smooth(values, weight):
    out, last, debias = [], 0.0, 1.0
    for v in values:
        last = last * weight + (1 - weight) * v
        debias *= weight
        out.append(last / (1 - debias))
    return out


def main():
    path, out = sys.argv[1], sys.argv[2]
    weight = float(sys.argv[3]) if len(sys.argv) > 3 else 0.95
    rows = [json.loads(l) for l in open(path) if l.strip()]
    px = [[(255, 255, 255)] * W for _ in range(H)]
    iters = [r["iter"] for r in rows]
    series = {k: smooth([r[k] for r in rows], weight) for k in COLOURS}
    top = max(max(v) for v in series.values()) * 1.05
    x_of = lambda i: PAD + (i - iters[0]) * (W - 2 * PAD) / max(1, iters[-1] - iters[0])
    y_of = lambda v: H - PAD - v * (H - 2 * PAD) / top
    for x in range(PAD, W - PAD):
        px[H - PAD][x] = (0, 0, 0)
    for y in range(PAD, H - PAD + 1):
        px[y][PAD] = (0, 0, 0)
    for tick in range(1, int(top) + 1):
        y = int(y_of(tick))
        for x in range(PAD, W - PAD, 4):
            px[y][x] = (200, 200, 200)
    for key, colour in COLOURS.items():
        pts = [(x_of(i), y_of(v)) for i, v in zip(iters, series[key])]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
            for s in range(steps + 1):
                x = int(x0 + (x1 - x0) * s / steps)
                y = int(y0 + (y1 - y0) * s / steps)
                for dy in (0, 1):
                    if 0 <= y + dy < H and 0 <= x < W:
                        px[y + dy][x] = colour
    raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in px)
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(out, "wb").write(png)
    print(f"{out}: {len(rows)} iterations, y axis 0..{top:.2f} (grey lines at 1, 2, ...), "
          f"D loss red, G loss blue, smoothing {weight}")


if __name__ == "__main__":
    main()
