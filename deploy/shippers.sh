#!/usr/bin/env bash
# Debian's log shippers for the compatibility tests (tests/ingest/test_shippers.py): rsyslog
# with omelasticsearch and syslog-ng with elasticsearch-http(), run as the test's own processes
# with the test's config (never as the system's syslog daemon).
#   shippers.sh install     install both (idempotent); prints the eval-able SOC_* paths
#   shippers.sh start rsyslog|syslog-ng CONF DIR   start one with CONF, state and pid in DIR
#   shippers.sh stop rsyslog|syslog-ng DIR         stop the one started with DIR
#   shippers.sh status      which are installed
# rsyslog and syslog-ng conflict as Debian packages (both are "system-log-daemon"): rsyslog is
# apt-installed; syslog-ng, unless already installed, is unpacked from its Debian packages into
# $DEPLOY_DIR/syslog-ng (its libraries apt-installed) and run from there.
source "$(dirname "$0")/common.sh"
SNG_ROOT="$DEPLOY_DIR/syslog-ng"
SNG_DEBS=(syslog-ng-core syslog-ng-mod-http syslog-ng-scl)
SNG_LIBS=(libcap2 libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libssl3 libsystemd0
  libwrap0 libcurl4)

syslog_ng_private() { ! command -v syslog-ng >/dev/null; }

install_syslog_ng() {
  syslog_ng_private || return 0
  [ -x "$SNG_ROOT/usr/sbin/syslog-ng" ] && return 0
  apt_install "${SNG_LIBS[@]}"
  local debs="$DEPLOY_DIR/syslog-ng-debs"
  rm -rf "$debs" "$SNG_ROOT.tmp"; mkdir -p "$debs"
  (cd "$debs" && apt-get download "${SNG_DEBS[@]}" >"$debs/download.log" 2>&1) \
    || { tail -5 "$debs/download.log" >&2; die "apt-get download ${SNG_DEBS[*]} failed"; }
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$SNG_ROOT.tmp"; done
  mv "$SNG_ROOT.tmp" "$SNG_ROOT"
  log "syslog-ng unpacked into $SNG_ROOT"
}

install() {
  command -v rsyslogd >/dev/null && dpkg -s rsyslog-elasticsearch >/dev/null 2>&1 \
    || apt_install rsyslog rsyslog-elasticsearch
  install_syslog_ng
}

paths() {
  echo "export SOC_RSYSLOGD=$(command -v rsyslogd)"
  if syslog_ng_private; then
    echo "export SOC_SYSLOG_NG_SCL=$SNG_ROOT/usr/share/syslog-ng/include/scl"
  else
    echo "export SOC_SYSLOG_NG_SCL=/usr/share/syslog-ng/include/scl"
  fi
}

syslog_ng() {
  if syslog_ng_private; then
    LD_LIBRARY_PATH="$SNG_ROOT/usr/lib/syslog-ng" "$SNG_ROOT/usr/sbin/syslog-ng" \
      --module-path="$SNG_ROOT/usr/lib/syslog-ng/3.38" "$@"
  else
    syslog-ng "$@"
  fi
}

pidfile() { echo "$2/$1.pid"; }

start() {
  local name=$1 conf=$2 dir=$3
  [ -f "$conf" ] || die "no config $conf"
  mkdir -p "$dir"
  local pid; pid=$(pidfile "$name" "$dir")
  if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
    log "$name already running (pid $(cat "$pid"))"; return
  fi
  case "$name" in
    rsyslog)
      command -v rsyslogd >/dev/null || install
      rsyslogd -N1 -f "$conf" >"$dir/rsyslog.check" 2>&1 \
        || { cat "$dir/rsyslog.check" >&2; die "rsyslog refused $conf"; }
      rsyslogd -f "$conf" -i "$pid" >"$dir/rsyslog.out" 2>&1 ;;
    syslog-ng)
      install_syslog_ng
      syslog_ng --syntax-only -f "$conf" >"$dir/syslog-ng.check" 2>&1 \
        || { cat "$dir/syslog-ng.check" >&2; die "syslog-ng refused $conf"; }
      syslog_ng -f "$conf" -p "$pid" -R "$dir/syslog-ng.persist" -c "$dir/syslog-ng.ctl" \
        >"$dir/syslog-ng.out" 2>&1 ;;
    *) die "unknown shipper $name (rsyslog or syslog-ng)" ;;
  esac
  wait_for 30 test -s "$pid" || die "$name did not start (see $dir/$name.out)"
  log "$name is up (pid $(cat "$pid"), config $conf)"
}

stop() {
  local name=$1 dir=$2 pid
  pid=$(pidfile "$name" "$dir")
  if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
    kill "$(cat "$pid")"; wait_for 20 bash -c "! kill -0 $(cat "$pid")" || true
    log "$name stopped"
  else log "$name is not running"; fi
  rm -f "$pid"
}

case "${1:-}" in
  install)  # one install at a time: test workers may ask at once
    mkdir -p "$DEPLOY_DIR"; exec 9>"$DEPLOY_DIR/shippers.lock"; flock 9; install; paths ;;
  start) [ $# -eq 4 ] || die "usage: $0 start rsyslog|syslog-ng CONF DIR"; start "$2" "$3" "$4" ;;
  stop) [ $# -eq 3 ] || die "usage: $0 stop rsyslog|syslog-ng DIR"; stop "$2" "$3" ;;
  status)
    command -v rsyslogd >/dev/null && echo "installed rsyslogd" || echo "missing rsyslogd"
    if ! syslog_ng_private || [ -x "$SNG_ROOT/usr/sbin/syslog-ng" ]; then
      echo "installed syslog-ng"; else echo "missing syslog-ng"; fi ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
