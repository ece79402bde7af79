# Sourced by run_all.sh and run_tests.sh: the Python environment to run in.
# - No virtual environment active: create .venv here and install bn_keras into it (pip upgraded
#   there; installed again only when setup.py changes).
# - One active: use it. bn_keras is installed into it only when it has none, or has this
#   checkout's and setup.py changed; pip is never upgraded in it. One that imports bn_keras from
#   another checkout is refused, since installing this one would repoint that environment;
#   BN_KERAS_ENV=keep uses it as it is, BN_KERAS_ENV=install repoints it to this checkout.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x "$repo/.venv/bin/python" ]; then
    echo "bn_keras: creating a virtual environment in $repo/.venv" >&2
    "${PYTHON:-python3}" -m venv "$repo/.venv"
  fi
  # shellcheck disable=SC1091
  . "$repo/.venv/bin/activate"
fi
case "${BN_KERAS_ENV:-}" in
  "" | keep | install) ;;
  *)
    echo "bn_keras: error: BN_KERAS_ENV=${BN_KERAS_ENV} is neither keep nor install" >&2
    exit 2
    ;;
esac
own_env=false
if [ -d "$repo/.venv" ] && [ "$(cd "$VIRTUAL_ENV" && pwd -P)" = "$(cd "$repo/.venv" && pwd -P)" ]; then
  own_env=true
fi
# Where the active environment imports bn_keras from outside this directory (PYTHONPATH
# included), and where its installed copy comes from (the checkout of an editable install, else
# the installed files); "" for none.
imported="$(cd / && python -c '
import importlib.util, os
spec = importlib.util.find_spec("bn_keras")
if spec and spec.origin:
    print(os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))))
' 2>/dev/null || true)"
installed="$(python -I -c '
import importlib.metadata as md, json, os, urllib.parse, urllib.request
try:
    dist = md.distribution("bn_keras")
except md.PackageNotFoundError:
    raise SystemExit
origin = json.loads(dist.read_text("direct_url.json") or "{}")
url = origin.get("url", "")
if url.startswith("file://") and origin.get("dir_info", {}).get("editable"):
    print(os.path.realpath(urllib.request.url2pathname(urllib.parse.urlparse(url).path)))
else:
    print(os.path.realpath(dist.locate_file("")))
' 2>/dev/null || true)"
stamp="$VIRTUAL_ENV/.bn_keras-setup-$(sha256sum "$repo/setup.py" | cut -c1-16)"
install=false
if [ "${BN_KERAS_ENV:-}" = keep ]; then
  :
elif $own_env || { [ "$imported" = "$repo" ] && [ "${installed:-$repo}" = "$repo" ]; } ||
  { [ -z "$imported" ] && [ -z "$installed" ]; }; then
  # Ours, or this checkout's install, or no bn_keras at all: install when missing or outdated.
  if [ ! -f "$stamp" ] || [ -z "$imported" ]; then install=true; fi
elif [ "$imported" = "$repo" ]; then
  : # this checkout through PYTHONPATH over another checkout's install: use it, repoint nothing
elif [ "${BN_KERAS_ENV:-}" = install ]; then
  echo "bn_keras: BN_KERAS_ENV=install: repointing $VIRTUAL_ENV from ${imported:-$installed} to $repo" >&2
  install=true
else
  echo "bn_keras: error: the active virtual environment $VIRTUAL_ENV imports bn_keras from" \
    "${imported:-$installed}, not from this checkout ($repo), and installing this one would" \
    "repoint it; deactivate it (then $repo/.venv is used), or set BN_KERAS_ENV=keep to use it" \
    "as it is, or BN_KERAS_ENV=install to install this checkout into it" >&2
  exit 2
fi
if $install; then
  echo "bn_keras: installing bn_keras and its dependencies into $VIRTUAL_ENV" >&2
  if $own_env; then python -m pip install --quiet --upgrade pip; fi
  python -m pip install --quiet -e "$repo[test]"
  rm -f "$VIRTUAL_ENV"/.bn_keras-setup-* && touch "$stamp"
fi
