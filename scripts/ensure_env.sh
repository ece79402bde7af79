# Sourced by run_all.sh and run_tests.sh: use the active virtual environment, or create .venv and
# install bn_keras into it (again only when setup.py changes).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x "$repo/.venv/bin/python" ]; then
    echo "bn_keras: creating a virtual environment in $repo/.venv" >&2
    "${PYTHON:-python3}" -m venv "$repo/.venv"
  fi
  # shellcheck disable=SC1091
  . "$repo/.venv/bin/activate"
fi
stamp="$VIRTUAL_ENV/.bn_keras-setup-$(sha256sum "$repo/setup.py" | cut -c1-16)"
if [ ! -f "$stamp" ] || ! python -c "import bn_keras" 2>/dev/null; then
  echo "bn_keras: installing bn_keras and its dependencies into $VIRTUAL_ENV" >&2
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e "$repo[test]"
  rm -f "$VIRTUAL_ENV"/.bn_keras-setup-* && touch "$stamp"
fi
