# Installs Debian packages for the scripts when a command they need is missing.

# install_debian_packages PKG...: apt-get install, as root or through sudo.
install_debian_packages() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "need root or sudo to install $*" >&2; return 1; }
        sudo="sudo"
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The demo's page is tested in a headless chromium (demo/tests/browser.rs).
ensure_chromium() {
    command -v chromium >/dev/null && return 0
    echo "chromium not found: installing Debian's chromium package" >&2
    install_debian_packages chromium
    command -v chromium >/dev/null
}
