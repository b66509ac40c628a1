# Shared by scripts/lockscope and scripts/test: install what is missing, then build.
# Sourced, not run. Build output goes to stderr (stdout may carry a JSON report).

LOCKSCOPE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCKSCOPE_BUILD=${LOCKSCOPE_BUILD:-$LOCKSCOPE_ROOT/build}

# Debian 12 packages the build, the tests and the Python scenarios need (python3-dev and
# pybind11-dev: the CPython scenarios' extensions and embedding programs; gdb: the attach
# tests' core files, made with gcore; graphviz: --format svg; python3-jsonschema and
# python3-rfc3987 (its URI checks): the SARIF output checked against tests/sarif's schema;
# python3-pytest and cmake: the README's CI recipes, tested).
LOCKSCOPE_PACKAGES=(g++ meson ninja-build pkg-config libunwind-dev libabsl-dev libgtest-dev
                    libdw-dev python3 python3-dev pybind11-dev gdb graphviz python3-jsonschema
                    python3-rfc3987 python3-pytest cmake)

lockscope_missing_packages() {
  local p missing=()
  for p in "${LOCKSCOPE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]}"
}

lockscope_ensure_packages() {
  local missing
  missing=$(lockscope_missing_packages)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "lockscope: missing Debian packages; install them with:" >&2
    echo "  sudo apt-get install -y $missing" >&2
    exit 2
  fi
  echo "lockscope: installing $missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq $missing; } >&2; then
    echo "lockscope: apt-get install $missing failed" >&2
    exit 2
  fi
}

# A build directory of its own: $1, where only the targets $2 (space-separated) are built,
# configured with the meson options that follow (scripts/test's sanitized analyzer,
# scripts/fuzz's target; CC/CXX from the environment at its first setup).
lockscope_ensure_built_in() {
  local dir=$1 targets=$2
  shift 2
  mkdir -p "$dir"
  (
    flock 9
    if [ ! -f "$dir/build.ninja" ]; then
      meson setup "$dir" "$LOCKSCOPE_ROOT" "$@" >"$dir/setup.log" 2>&1 || {
        tail -n 30 "$dir/setup.log" >&2
        echo "lockscope: meson setup failed (log: $dir/setup.log)" >&2
        exit 2
      }
    fi
    # shellcheck disable=SC2086  # (a list of targets)
    ninja -C "$dir" $targets >"$dir/build.log" 2>&1 || {
      grep -E "error|FAILED" "$dir/build.log" | head -n 30 >&2
      echo "lockscope: build failed (log: $dir/build.log)" >&2
      exit 2
    }
  ) 9>"$dir/.build.lock" || exit 2
}

lockscope_ensure_built() {
  lockscope_ensure_packages
  mkdir -p "$LOCKSCOPE_BUILD"
  (
    # One build at a time, even when several lockscope commands start together.
    flock 9
    if [ ! -f "$LOCKSCOPE_BUILD/build.ninja" ]; then
      meson setup "$LOCKSCOPE_BUILD" "$LOCKSCOPE_ROOT" >"$LOCKSCOPE_BUILD/setup.log" 2>&1 || {
        tail -n 30 "$LOCKSCOPE_BUILD/setup.log" >&2
        echo "lockscope: meson setup failed (log: $LOCKSCOPE_BUILD/setup.log)" >&2
        exit 2
      }
    fi
    ninja -C "$LOCKSCOPE_BUILD" >"$LOCKSCOPE_BUILD/build.log" 2>&1 || {
      grep -E "error|FAILED" "$LOCKSCOPE_BUILD/build.log" | head -n 30 >&2
      echo "lockscope: build failed (log: $LOCKSCOPE_BUILD/build.log)" >&2
      exit 2
    }
  ) 9>"$LOCKSCOPE_BUILD/.build.lock" || exit 2
}
