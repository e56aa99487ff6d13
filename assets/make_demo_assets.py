#!/usr/bin/env python3
"""Regenerates assets/demo/ from Debian's dataset-fashion-mnist and ../shared/data/photos.

Three garments of each Fashion-MNIST class from the t10k split (the first three of each
class, in file order), upscaled 4x (28 -> 112) bilinearly and inverted to dark-on-white like
a catalogue photo, written as 8-bit grey PNGs. Pure standard library: no PIL needed.
"""
import gzip, shutil, struct, sys, zlib
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
PHOTOS = Path(sys.argv[2] if len(sys.argv) > 2 else "../../shared/data/photos")
OUT = Path(__file__).resolve().parent / "demo"
CLASSES = ["tshirt-top", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
PER_CLASS, SCALE = 3, 4

def read_idx(path):
    data = gzip.open(path).read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]

def upscale(pixels, n, s):
    m = n * s
    out = bytearray(m * m)
    for y in range(m):
        fy = min(max((y + 0.5) / s - 0.5, 0), n - 1)
        y0 = int(fy); y1 = min(y0 + 1, n - 1); wy = fy - y0
        for x in range(m):
            fx = min(max((x + 0.5) / s - 0.5, 0), n - 1)
            x0 = int(fx); x1 = min(x0 + 1, n - 1); wx = fx - x0
            top = pixels[y0 * n + x0] * (1 - wx) + pixels[y0 * n + x1] * wx
            bot = pixels[y1 * n + x0] * (1 - wx) + pixels[y1 * n + x1] * wx
            out[y * m + x] = 255 - int(round(top * (1 - wy) + bot * wy))
    return bytes(out), m

def write_png(path, gray, size):
    raw = b"".join(b"\x00" + gray[y * size:(y + 1) * size] for y in range(size))
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

def main():
    OUT.mkdir(exist_ok=True)
    (n, rows, cols), images = read_idx(SRC / "t10k-images-idx3-ubyte.gz")
    (_,), labels = read_idx(SRC / "t10k-labels-idx1-ubyte.gz")
    taken = {c: 0 for c in range(10)}
    for i in range(n):
        c = labels[i]
        if taken[c] >= PER_CLASS:
            continue
        taken[c] += 1
        px = images[i * rows * cols:(i + 1) * rows * cols]
        big, size = upscale(px, rows, SCALE)
        write_png(OUT / f"fmnist-{CLASSES[c]}-{taken[c]}.png", big, size)
        if all(v >= PER_CLASS for v in taken.values()):
            break
    for name in ["astronaut.png", "camera.png"]:
        shutil.copy(PHOTOS / name, OUT / f"photo-{name}")

if __name__ == "__main__":
    main()
