# Shared by scripts/demo, scripts/test and .ci/run: make sure redis-server and redis-cli (and
# openssl, which the TLS tests use to make certificates) are on PATH, installing Debian's
# packages when they are missing.
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

ensure_redis_server() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v openssl >/dev/null; then
        return 0
    fi
    echo "redis-server or openssl not found: installing Debian's redis-server and openssl packages" >&2
    install_debian_packages redis-server openssl
    command -v redis-server >/dev/null && command -v openssl >/dev/null
}

# Starts a private redis-server on a free loopback port, stopped when the calling script exits.
# Sets PRIVATE_REDIS_PORT.
start_private_redis() {
    local dir port
    dir=$(mktemp -d)
    for _ in $(seq 1 20); do
        port=$((20000 + RANDOM % 30000))
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --logfile "$dir/redis.log" --dir "$dir" &
        PRIVATE_REDIS_PID=$!
        for _ in $(seq 1 100); do
            if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
                PRIVATE_REDIS_PORT=$port
                trap 'kill "$PRIVATE_REDIS_PID" 2>/dev/null; wait "$PRIVATE_REDIS_PID" 2>/dev/null; rm -rf "'"$dir"'"' EXIT
                return 0
            fi
            kill -0 "$PRIVATE_REDIS_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill "$PRIVATE_REDIS_PID" 2>/dev/null || true
    done
    echo "could not start a private redis-server; log:" >&2
    cat "$dir/redis.log" >&2 || true
    return 1
}
