#!/usr/bin/env bash
# Create tools/reference/.venv (Python 3.12) with the pinned hwcomponents libraries, and make sure
# the NeuroSim executable inside hwcomponents-neurosim runs on this machine.
#
# hwcomponents-neurosim 1.0.43 ships a prebuilt NeuroSim/main linked against glibc 2.38 /
# GLIBCXX_3.4.32 (built on Ubuntu 24.04). On older systems (e.g. Debian 12, glibc 2.36) it fails
# with "version `GLIBC_2.38' not found". The package also ships the NeuroSim V1.3 C++ sources and
# the CiMLoop drop-in replacements (drop_in/), so we rebuild the binary from them with the
# package's own makefile flags (g++ -fopenmp -O3 -std=c++0x) and put it in place of the
# prebuilt one (the original is kept as NeuroSim/main.orig).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY312="${PY312:-/root/.pyenv/versions/3.12.1/bin/python}"
command -v "$PY312" >/dev/null 2>&1 || PY312=python3.12
VENV="$HERE/.venv"
[ -x "$VENV/bin/python" ] || "$PY312" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt"

NS_DIR="$("$VENV/bin/python" -c 'import os, hwcomponents_neurosim as m; print(os.path.dirname(m.__file__))')"
BIN="$NS_DIR/NeuroSim/main"
probe_cfg="$(mktemp)"
probe_out="$("$BIN" "$probe_cfg" 2>&1 || true)"
if echo "$probe_out" | grep -q "GLIBC\|GLIBCXX\|cannot execute\|No such file"; then
    echo "prebuilt NeuroSim binary cannot run here; rebuilding from shipped sources"
    BUILD="$HERE/build/neurosim"
    rm -rf "$BUILD" && mkdir -p "$BUILD"
    cp "$NS_DIR"/DNN_NeuroSim_V1.3/Inference_pytorch/NeuroSIM/* "$BUILD"/
    cp "$NS_DIR"/drop_in/* "$BUILD"/          # CiMLoop's modified NeuroSim files override the originals
    make -C "$BUILD" -j"$(nproc)" main >"$BUILD/build.log" 2>&1
    [ -f "$BIN.orig" ] || cp "$BIN" "$BIN.orig"
    cp "$BUILD/main" "$BIN"
    echo "installed rebuilt NeuroSim at $BIN"
fi
rm -f "$probe_cfg"
echo "reference venv ready: $VENV"
