#!/usr/bin/env bash
# Builds deepstyle with the `cuda` feature on a Linux x86-64 machine that has neither a GPU nor a
# CUDA toolkit: the toolkit comes from PyPI's NVIDIA wheels of the CUDA 13.0 series (whose PTX a
# 580 or newer driver accepts), and the driver library is a stand-in for the link only.
#
#   tools/build-cuda.sh [--cap 90] [--check]
#
#   --cap N   compute capability to build the kernels for: 90 (H100, H200; the default),
#             89 (L4, RTX 40), 86 (A10, RTX 30), 80 (A100)
#   --check   only `cargo clippy --all-targets --features cuda` (what CI runs), no binary
#
# Without --check it leaves target/release/deepstyle built with `--features cuda` (about 25 minutes
# from clean on 2 cores). Run it with a GPU machine's driver: the CUDA libraries it loads
# (libcublas, libcublasLt, libcurand, libnvrtc) are in the toolkit's lib64 or in any CUDA 13
# install; put their folder on LD_LIBRARY_PATH. The toolkit (about 1.2 GB) is kept in
# target/cuda-toolkit, or in $DEEPSTYLE_CUDA_TOOLKIT.
set -euo pipefail
cd "$(dirname "$0")/.."

cap=90
mode=build
while [ $# -gt 0 ]; do
  case "$1" in
    --cap) cap="${2:?--cap needs a compute capability, e.g. 90}"; shift 2 ;;
    --check) mode=check; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-cuda.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$cap" in
  ''|*[!0-9]*) echo "build-cuda.sh: --cap takes a number such as 90, not '$cap'" >&2; exit 2 ;;
esac
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] \
  || { echo "build-cuda.sh: needs Linux on x86-64 (PyPI's NVIDIA wheels)" >&2; exit 1; }

root="${DEEPSTYLE_CUDA_TOOLKIT:-$PWD/target/cuda-toolkit}"
venv="$root/venv"
toolkit="$root/cuda"
wheels=(
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.1.0.3 nvidia-curand==10.4.0.35
)

# 1. The toolkit's files, from the wheels.
if [ ! -x "$venv/bin/python" ]; then
  echo "build-cuda.sh: installing the CUDA 13.0 wheels into $venv (about 1.2 GB)"
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "${wheels[@]}"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cu13="$site/nvidia/cu13"
[ -x "$cu13/bin/nvcc" ] || { echo "build-cuda.sh: no nvcc in $cu13/bin after the install" >&2; exit 1; }

# 2. One folder laid out like a toolkit: bin, include, nvvm and lib64 with unversioned links.
rm -rf "$toolkit"
mkdir -p "$toolkit/lib64"
ln -s "$cu13/bin" "$toolkit/bin"
ln -s "$cu13/include" "$toolkit/include"
ln -s "$cu13/nvvm" "$toolkit/nvvm"
for lib in "$cu13"/lib/*.so.* "$cu13"/lib/*.a; do
  name="$(basename "$lib")"
  ln -s "$lib" "$toolkit/lib64/$name"
  case "$name" in
    *.so.*) [ -e "$toolkit/lib64/${name%%.so.*}.so" ] || ln -s "$lib" "$toolkit/lib64/${name%%.so.*}.so" ;;
  esac
done

# 3. A stand-in libcuda for the link: every driver function cudarc binds, each answering
#    CUDA_ERROR_STUB_LIBRARY (34). The real driver's libcuda.so.1 takes its place at run time.
cargo fetch --locked --quiet
cudarc="$(cargo metadata --locked --format-version 1 --features cuda \
  | python3 -c 'import json, sys, os; print(next(os.path.dirname(p["manifest_path"]) for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc"))')"
stub_c="$root/libcuda-stub.c"
grep -ohE 'pub (unsafe )?fn cu[A-Za-z0-9_]+' "$cudarc/src/driver/sys/mod.rs" | awk '{print $NF}' | sort -u \
  | awk 'BEGIN { print "/* Link-time stand-in for the NVIDIA driver: every call fails. */" }
         { printf "int %s(void) { return 34; }\n", $1 }' >"$stub_c"
mkdir -p "$toolkit/lib64/stubs"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$toolkit/lib64/stubs/libcuda.so" "$stub_c"
echo "build-cuda.sh: toolkit in $toolkit ($(grep -c '^int ' "$stub_c") driver functions stood in for), compute capability $cap"

# 4. The build.
export CUDA_ROOT="$toolkit" CUDA_PATH="$toolkit" CUDA_COMPUTE_CAP="$cap"
export PATH="$toolkit/bin:$PATH"
export LIBRARY_PATH="$toolkit/lib64:$toolkit/lib64/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
if [ "$mode" = check ]; then
  cargo clippy --locked --all-targets --features cuda -- -D warnings
else
  cargo build --locked --release --features cuda
  echo "build-cuda.sh: built target/release/deepstyle with --features cuda for compute capability $cap"
  echo "  run it where the driver is, with the CUDA 13 libraries' folder (e.g. $toolkit/lib64) on LD_LIBRARY_PATH"
fi
