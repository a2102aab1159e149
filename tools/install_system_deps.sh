#!/usr/bin/env bash
# Installs the Debian packages mt_music needs: FluidSynth (synthesis), rsvg-convert
# (SVG -> PNG), soundfonts for timbre variety, libsndfile, fontconfig, ffmpeg
# (audioread's decoder for formats libsndfile cannot read, e.g. m4a), Chromium (the headless
# browser that checks the decoding script's HTML report).
# Runs apt-get when root or when passwordless sudo works; otherwise prints the
# command to run and fails, so a missing package is never discovered mid-job.
set -euo pipefail

PACKAGES=(fluidsynth libfluidsynth3 librsvg2-bin fluid-soundfont-gm
          musescore-general-soundfont-small libsndfile1 fontconfig ffmpeg chromium)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "mt_music needs these Debian packages: ${missing[*]}" >&2
  echo "Install them as root, then re-run:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
