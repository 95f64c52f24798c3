#!/usr/bin/env bash
# The two commands of the README, plus setup. Every command creates or updates what it needs first.
#   ./run.sh demo "two people shake hands"   set up, then prompt -> .blend with two keyed rigs + preview
#   ./run.sh test [pytest args]              set up, then run the whole test suite
#   ./run.sh bake prompts.jsonl --out DIR    batch-bake a prompts file (see intermask_blender/batch.py)
#   ./run.sh setup                           only create / update the environments
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}

# ensure_env DIR REQUIREMENTS [PIP ARGS]: create the venv if missing, (re)install when the file changed.
ensure_env() {
  local dir=$1 req=$2 stamp="$1/.$(basename "$2").sha256"
  shift 2
  # the generator's requirements are included by requirements.txt, so they count towards its hash
  local want; want=$(cat "$req" server/requirements.txt | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/bin/python" ]; then
    return 0
  fi
  if ! command -v "$PYTHON" >/dev/null; then
    echo "error: $PYTHON not found; Blender's Python module (bpy) needs Python 3.11 exactly" >&2
    exit 1
  fi
  echo "setting up $dir from $req ..." >&2
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" -r "$req"
  echo "$want" > "$stamp"
}

# ensure_reader DIR: the prompt reader's weights joined into the venv once (server/reader.py; a no-op after).
ensure_reader() {
  "$1/bin/python" -m server.reader prepare
}

# Real mocap for the retargeting tests: CMU clips from Debian's assimp-testmodels (needs root for apt).
ensure_mocap() {
  [ -f /usr/share/assimp/models/BVH/01_01.bvh ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's assimp-testmodels (CMU mocap clips for the tests) ..." >&2
    (apt-get update -qq && apt-get install -y -qq assimp-testmodels) >/dev/null 2>&1 \
      || echo "warning: could not install assimp-testmodels; the mocap tests will be skipped" >&2
  else
    echo "note: 'apt-get install assimp-testmodels' (as root) enables the CMU mocap tests" >&2
  fi
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup)
    ensure_env .venv requirements.txt
    ensure_reader .venv
    ensure_env .venv-bpy42 requirements-bpy42.txt
    ;;
  test)
    ensure_env .venv requirements.txt
    ensure_reader .venv
    ensure_env .venv requirements-testdata.txt --no-deps
    ensure_env .venv-bpy42 requirements-bpy42.txt
    ensure_env .venv-bpy42 requirements-testdata.txt --no-deps
    ensure_mocap
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    echo "== Blender 5.0 (bpy 5.0.1), full suite" >&2
    .venv/bin/python -m pytest "$@"
    echo "== Blender 4.2 LTS (bpy 4.2.23), Blender-side tests marked 'legacy'" >&2
    # A class left registered makes 4.2 segfault at exit; the timeout guards against 4.5-style hangs.
    timeout 1800 .venv-bpy42/bin/python -m pytest -m legacy "$@"
    ;;
  demo|bake)
    ensure_env .venv requirements.txt
    ensure_reader .venv
    [ "$cmd" = demo ] && [ $# -eq 0 ] && set -- "two people walk towards each other and shake hands"
    entry=$([ "$cmd" = demo ] && echo headless || echo batch)
    # The repository is imported as the package `intermask`, exactly as Blender loads the extension.
    exec .venv/bin/python - "$entry" "$@" <<'PY'
import importlib.util, sys
from pathlib import Path
root = Path.cwd()
spec = importlib.util.spec_from_file_location("intermask", root / "__init__.py", submodule_search_locations=[str(root)])
sys.modules["intermask"] = module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
entry = importlib.import_module(f"intermask.intermask_blender.{sys.argv[1]}")
sys.exit(entry.main(sys.argv[2:]))
PY
    ;;
  *)
    echo "usage: ./run.sh demo \"PROMPT\" | ./run.sh bake PROMPTS --out DIR | ./run.sh test [pytest args] | ./run.sh setup" >&2
    exit 64
    ;;
esac
