# Shared helpers for the deploy scripts (sourced, not run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY_DIR=${SOC_DEPLOY_DIR:-$ROOT/var/deploy}
mkdir -p "$DEPLOY_DIR"

log() { printf '[deploy] %s\n' "$*" >&2; }
die() { printf '[deploy] error: %s\n' "$*" >&2; exit 1; }

# apt-get install the named Debian packages unless every one is installed already.
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${missing[*]} (or install them first)"
  log "apt-get install ${missing[*]}"
  if [ ! -f "$DEPLOY_DIR/.apt-updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$DEPLOY_DIR/apt.log" 2>&1 \
      || { tail -20 "$DEPLOY_DIR/apt.log" >&2; die "apt-get update failed"; }
    touch "$DEPLOY_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >>"$DEPLOY_DIR/apt.log" 2>&1 || { tail -20 "$DEPLOY_DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

# Wait until the command succeeds, at most $1 seconds.
wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 1
  done
}

# Make a system user to run a service that refuses root (OpenSearch, PostgreSQL).
ensure_user() {
  id "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to create user $1"
  useradd --system --no-create-home --shell /usr/sbin/nologin "$1"
}

# Run a command as another user when we are root, else as ourselves.
as_user() {
  local user=$1; shift
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}
