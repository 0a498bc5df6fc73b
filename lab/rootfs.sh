# shellcheck shell=bash
# A clean Debian 12 (bookworm, debootstrap --variant=minbase) root file system in a folder,
# for tests that install things into a fresh system (tests/integration/package_install.sh)
# and for throwaway target hosts (ansible). Source it; needs root and debootstrap.
#
#   source lab/rootfs.sh
#   rootfs_make DIR [EXTRA_PACKAGE...]   # DIR: a fresh bookworm, with the packages installed
#   rootfs_mount DIR                     # /proc, /sys, /dev, /dev/pts for chroot DIR apt-get...
#   chroot DIR apt-get install -y ...    # (resolv.conf is the host's: apt works)
#   rootfs_umount DIR                    # unmounts everything mounted below DIR (idempotent)
#   rootfs_remove DIR                    # rootfs_umount, then deletes DIR (never crosses mounts)
#   rootfs_services DIR off|on           # off: installing packages starts no services in DIR
#
# Put `rootfs_remove DIR` (or at least rootfs_umount) in your EXIT trap: a failed step must not
# leave /proc or /dev mounted inside DIR.
#
# rootfs_make DIR [EXTRA_PACKAGE...]
#   DIR must not exist or be empty. The base system comes from debootstrap, from the mirror
#   apt uses on this machine (the first bookworm "main" source in /etc/apt/sources.list(.d));
#   the extra packages are then installed with apt-get (--no-install-recommends) inside it, so
#   apt resolves their dependencies. No service is started (policy-rc.d refuses, and there is
#   no systemd running in a chroot).
#   Cached: the result is a tarball in $ROOTFS_CACHE_DIR (default /var/cache/meshbroker-test)
#   named by a hash of suite, mirror, architecture and the sorted extra packages, and later
#   calls with the same list extract it (seconds instead of minutes). The bare minbase is
#   cached too, so a new package list starts from it. Entries older than
#   $ROOTFS_CACHE_MAX_DAYS days (default 7) are rebuilt (the archive moves on). ROOTFS_NO_CACHE=1
#   neither reads nor writes the cache. Everything works without a cache (just slower).
#   Per copy, after extraction: a new /etc/machine-id, new SSH host keys (when openssh-server
#   is installed), the host's /etc/resolv.conf. apt's package lists are kept from the time
#   the cache entry was made: run `chroot DIR apt-get update` if an install cannot find a
#   version.
# Env: ROOTFS_SUITE (bookworm), ROOTFS_MIRROR (from apt's sources), ROOTFS_CACHE_DIR,
#      ROOTFS_CACHE_MAX_DAYS, ROOTFS_NO_CACHE.
# Messages go to stderr; failures return non-zero with a message (no exit: the caller's
# trap cleans up).

if [[ -n ${MESHBROKER_ROOTFS_SH:-} ]]; then
  return 0
fi
MESHBROKER_ROOTFS_SH=1

# Bump when what goes into a cached tarball changes, so old entries are not reused.
readonly ROOTFS_FORMAT=1

rootfs_log() { printf 'rootfs: %s\n' "$*" >&2; }
rootfs_error() {
  printf 'rootfs: error: %s\n' "$*" >&2
  return 1
}

# rootfs_mirror: the Debian mirror apt uses here (deb822 .sources or one-line .list files).
rootfs_mirror() {
  if [[ -n ${ROOTFS_MIRROR:-} ]]; then
    printf '%s\n' "$ROOTFS_MIRROR"
    return 0
  fi
  local suite=${ROOTFS_SUITE:-bookworm} f mirror=""
  shopt -s nullglob
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
  shopt -u nullglob
  for f in "${files[@]}"; do
    [[ -r $f ]] || continue
    if [[ $f == *.sources ]]; then
      # Stanzas separated by blank lines; take URIs of a stanza whose Suites has the suite.
      mirror=$(awk -v suite="$suite" '
        function flush() { if (uri != "" && ok && main && !done) { print uri; done = 1 } uri = ""; ok = 0; main = 0 }
        /^[[:space:]]*$/ { flush(); next }
        /^[[:space:]]*#/ { next }
        tolower($1) == "uris:" { uri = $2 }
        tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
        tolower($1) == "components:" { for (i = 2; i <= NF; i++) if ($i == "main") main = 1 }
        tolower($1) == "enabled:" && tolower($2) == "no" { uri = "" }
        END { flush() }' "$f")
    else
      mirror=$(awk -v suite="$suite" '
        $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                      if ($(i + 1) == suite) { for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; exit } } }' "$f")
    fi
    if [[ -n $mirror ]]; then
      printf '%s\n' "${mirror%/}"
      return 0
    fi
  done
  rootfs_log "no $suite main source in /etc/apt; using http://deb.debian.org/debian"
  printf '%s\n' http://deb.debian.org/debian
}

# rootfs_cache_file [EXTRA_PACKAGE...]: the cache tarball's path for this package list.
rootfs_cache_file() {
  local suite=${ROOTFS_SUITE:-bookworm} mirror arch key sorted=""
  mirror=$(rootfs_mirror) || return 1
  arch=$(dpkg --print-architecture) || return 1
  if (($#)); then
    sorted=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
  fi
  key=$(printf 'format=%s suite=%s mirror=%s arch=%s variant=minbase packages=%s\n' \
    "$ROOTFS_FORMAT" "$suite" "$mirror" "$arch" "$sorted" | sha256sum | cut -c1-16)
  printf '%s/rootfs-%s-%s-minbase-%s.tar%s\n' "${ROOTFS_CACHE_DIR:-/var/cache/meshbroker-test}" \
    "$suite" "$arch" "$key" "$(rootfs_tar_suffix)"
}

rootfs_tar_suffix() {
  if command -v zstd >/dev/null 2>&1; then echo .zst; else echo .gz; fi
}

rootfs_tar_compressor() {
  if command -v zstd >/dev/null 2>&1; then echo "zstd -T0 -3 -q"; else echo "gzip -1"; fi
}

# rootfs_mount DIR: /proc, /sys, /dev and /dev/pts inside DIR (what apt and postinsts need).
rootfs_mount() {
  local dir=$1 m
  [[ -d $dir ]] || rootfs_error "rootfs_mount: $dir is not a folder" || return 1
  for m in proc sys dev; do
    mkdir -p -- "$dir/$m"
    mountpoint -q -- "$dir/$m" && continue
    case $m in
      proc) mount -t proc proc "$dir/proc" ;;
      sys) mount -t sysfs -o ro sysfs "$dir/sys" ;;
      dev) mount --bind /dev "$dir/dev" && mount --make-rslave "$dir/dev" ;;
    esac || rootfs_error "cannot mount $dir/$m" || return 1
  done
  mkdir -p -- "$dir/dev/pts"
  if ! mountpoint -q -- "$dir/dev/pts"; then
    mount --bind /dev/pts "$dir/dev/pts" || rootfs_error "cannot mount $dir/dev/pts" || return 1
  fi
}

# rootfs_umount DIR: unmounts every mount below DIR (deepest first; lazily if busy).
rootfs_umount() {
  local dir m
  dir=$(readlink -f -- "$1" 2>/dev/null) || return 0
  [[ -d $dir && $dir != / ]] || return 0
  local -a mounts=()
  mapfile -t mounts < <(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts |
    sort -r)
  for m in "${mounts[@]}"; do
    umount -- "$m" 2>/dev/null || umount -l -- "$m" 2>/dev/null ||
      rootfs_log "warning: could not unmount $m"
  done
}

# rootfs_remove DIR: unmounts, then deletes DIR without ever crossing into a mount.
rootfs_remove() {
  local dir=$1
  [[ -n $dir && -e $dir ]] || return 0
  rootfs_umount "$dir"
  if awk -v d="$(readlink -f -- "$dir")" 'index($2, d "/") == 1 { found = 1 } END { exit !found }' \
    /proc/self/mounts; then
    rootfs_error "something is still mounted under $dir; not deleting it"
    return 1
  fi
  rm -rf --one-file-system -- "$dir"
}

# rootfs_services DIR off|on: with "off", a policy-rc.d in DIR makes invoke-rc.d refuse to
# start services (an openvpn postinst would otherwise start its init script in the chroot);
# "on" removes it. A rootfs_make result has it on (no policy-rc.d).
rootfs_services() {
  local dir=$1 state=$2 policy="$1/usr/sbin/policy-rc.d"
  case $state in
    off)
      if ! printf '#!/bin/sh\n# rootfs.sh: no services start in this chroot.\nexit 101\n' \
        >"$policy" || ! chmod 0755 "$policy"; then
        rootfs_error "cannot write $policy"
      fi
      ;;
    on) rm -f -- "$policy" ;;
    *) rootfs_error "usage: rootfs_services DIR off|on" ;;
  esac
}

# _rootfs_debootstrap DIR: a bare minbase into DIR.
_rootfs_debootstrap() {
  local dir=$1 suite=${ROOTFS_SUITE:-bookworm} mirror log
  command -v debootstrap >/dev/null 2>&1 ||
    rootfs_error "debootstrap is not installed (apt-get install debootstrap)" || return 1
  mirror=$(rootfs_mirror) || return 1
  log=$(mktemp "${TMPDIR:-/tmp}/rootfs-debootstrap.XXXXXX.log")
  rootfs_log "debootstrap --variant=minbase $suite $dir $mirror (takes a few minutes)"
  if ! debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$suite" "$dir" \
    "$mirror" >"$log" 2>&1; then
    tail -n 30 -- "$log" >&2
    [[ -f $dir/debootstrap/debootstrap.log ]] && tail -n 30 -- "$dir/debootstrap/debootstrap.log" >&2
    rm -f -- "$log"
    rootfs_error "debootstrap failed (mirror $mirror)"
    return 1
  fi
  rm -f -- "$log"
}

# _rootfs_install DIR PACKAGE...: apt-get install inside DIR, services not started. Runs in a
# subshell whose trap unmounts again whatever happens.
_rootfs_install() {
  local dir=$1
  shift
  (($#)) || return 0
  # Every step checks its status: set -e does not apply inside a subshell that is part of ||.
  (
    trap 'rootfs_services "$dir" on; rootfs_umount "$dir"' EXIT
    rootfs_services "$dir" off || exit 1
    rootfs_mount "$dir" || exit 1
    rootfs_log "installing in the rootfs: $*"
    local log
    log=$(mktemp "${TMPDIR:-/tmp}/rootfs-apt.XXXXXX.log")
    if ! chroot "$dir" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
      apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
      tail -n 40 -- "$log" >&2
      rm -f -- "$log"
      rootfs_error "apt-get install failed in $dir: $*"
      exit 1
    fi
    rm -f -- "$log"
    chroot "$dir" apt-get clean || true
  ) || return 1
}

# _rootfs_scrub DIR: what must not be shared between copies goes before a tarball is made.
_rootfs_scrub() {
  local dir=$1
  rm -f -- "$dir"/etc/ssh/ssh_host_*_key "$dir"/etc/ssh/ssh_host_*_key.pub
  [[ -e $dir/etc/machine-id ]] && : >"$dir/etc/machine-id"
  rm -f -- "$dir/var/lib/dbus/machine-id"
  rm -rf -- "$dir"/var/cache/apt/archives/*.deb "$dir"/tmp/* 2>/dev/null
  return 0
}

# _rootfs_personalize DIR: what each copy gets of its own.
_rootfs_personalize() {
  local dir=$1
  if [[ -e $dir/etc/machine-id ]]; then
    tr -d '-' </proc/sys/kernel/random/uuid >"$dir/etc/machine-id"
  fi
  if [[ -x $dir/usr/bin/ssh-keygen ]] && [[ -d $dir/etc/ssh ]]; then
    chroot "$dir" ssh-keygen -A >/dev/null || rootfs_error "ssh-keygen -A failed in $dir" || return 1
  fi
  if [[ -r /etc/resolv.conf ]]; then
    rm -f -- "$dir/etc/resolv.conf"
    cp -L -- /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  fi
}

# _rootfs_cache_fresh FILE: true when FILE exists and is younger than the maximum age.
_rootfs_cache_fresh() {
  local file=$1 max=${ROOTFS_CACHE_MAX_DAYS:-7}
  [[ -s $file ]] || return 1
  [[ -z $(find "$file" -mtime +"$max" 2>/dev/null) ]]
}

# _rootfs_save DIR FILE: DIR as a tarball FILE, atomically (temp file + rename).
_rootfs_save() {
  local dir=$1 file=$2 tmp
  mkdir -p -- "$(dirname -- "$file")" 2>/dev/null || {
    rootfs_log "warning: cannot create $(dirname -- "$file"); not caching"
    return 0
  }
  tmp=$(mktemp "$file.XXXXXX") || {
    rootfs_log "warning: cannot write in $(dirname -- "$file"); not caching"
    return 0
  }
  local -a compress=()
  read -ra compress <<<"$(rootfs_tar_compressor)"
  if tar -C "$dir" --numeric-owner --xattrs --one-file-system -cf - . |
    "${compress[@]}" >"$tmp"; then
    chmod 0644 -- "$tmp"
    mv -f -- "$tmp" "$file"
    rootfs_log "cached as $file ($(du -h -- "$file" | cut -f1))"
  else
    rm -f -- "$tmp"
    rootfs_log "warning: could not write the cache $file"
  fi
  return 0
}

_rootfs_extract() {
  local file=$1 dir=$2 decompress=(gzip -dc)
  [[ $file == *.zst ]] && decompress=(zstd -dcq)
  "${decompress[@]}" -- "$file" | tar -C "$dir" --numeric-owner --xattrs -xpf - ||
    rootfs_error "could not extract $file into $dir"
}

# _rootfs_build DIR [EXTRA...]: DIR as the (cached) system with those packages, not yet
# personalized.
_rootfs_build() {
  local dir=$1
  shift
  local cache="" lock_fd
  if [[ -z ${ROOTFS_NO_CACHE:-} ]]; then
    cache=$(rootfs_cache_file "$@") || return 1
  fi
  if [[ -n $cache ]] && mkdir -p -- "$(dirname -- "$cache")" 2>/dev/null &&
    exec {lock_fd}>>"$cache.lock"; then
    # One builder per cache entry; the others wait and then extract what it made.
    flock "$lock_fd"
  else
    lock_fd=""
  fi
  local rc=0
  if [[ -n $cache ]] && _rootfs_cache_fresh "$cache"; then
    rootfs_log "extracting cached $(basename -- "$cache")"
    _rootfs_extract "$cache" "$dir" || rc=1
  else
    if (($#)); then
      # The extras go on top of the (cached) bare minbase.
      _rootfs_build "$dir" && _rootfs_scrub "$dir" && _rootfs_install "$dir" "$@" || rc=1
    else
      _rootfs_debootstrap "$dir" || rc=1
    fi
    if ((rc == 0)); then
      _rootfs_scrub "$dir"
      [[ -n $cache ]] && _rootfs_save "$dir" "$cache"
    fi
  fi
  [[ -n $lock_fd ]] && exec {lock_fd}>&-
  return "$rc"
}

# rootfs_make DIR [EXTRA_PACKAGE...]: see the top of this file.
rootfs_make() {
  local dir=${1:-}
  [[ -n $dir ]] || rootfs_error "usage: rootfs_make DIR [EXTRA_PACKAGE...]" || return 1
  shift
  [[ $(id -u) -eq 0 ]] || rootfs_error "rootfs_make needs root (debootstrap, chroot, mount)" ||
    return 1
  if [[ -e $dir ]] && [[ -n $(ls -A -- "$dir" 2>/dev/null) ]]; then
    rootfs_error "$dir exists and is not empty"
    return 1
  fi
  mkdir -p -- "$dir" || rootfs_error "cannot create $dir" || return 1
  local start=$SECONDS
  _rootfs_build "$dir" "$@" || return 1
  _rootfs_personalize "$dir" || return 1
  rootfs_log "$dir ready ($((SECONDS - start)) s)"
}
