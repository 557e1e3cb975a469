#!/usr/bin/env bash
# Set up labelgen on a fresh Debian/Ubuntu machine: system libraries (when missing), a
# virtual environment in .venv and the package (editable) with its test extras.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System libraries: Open3D needs libusb-1.0-0 and libgomp1; the OpenGL backend needs EGL.
need=()
for pair in "libusb-1.0.so.0:libusb-1.0-0" "libgomp.so.1:libgomp1" "libEGL.so.1:libegl1" "libGL.so.1:libgl1" \
            "swrast_dri.so:libgl1-mesa-dri"; do
  lib=${pair%%:*}; pkg=${pair##*:}
  if ! ldconfig -p 2>/dev/null | grep -q "$lib" && ! find /usr/lib -name "$lib" -print -quit 2>/dev/null | grep -q .; then
    need+=("$pkg")
  fi
done
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing system libraries: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install these system libraries: ${need[*]}" >&2
  fi
fi

# Optional: headless Chromium, for the test that opens the validation report in a browser and
# for scripts/make_report_screenshot.py. Installed only when missing (skip: LABELGEN_NO_CHROMIUM=1);
# a failed or slow install (bounded to 5 minutes) never fails the setup: that test then skips.
if [ -z "${LABELGEN_NO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
   && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "setup: installing chromium (optional)" >&2
  if ! { timeout 120 $sudo apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive timeout 300 \
         $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; then
    echo "setup: chromium not installed (optional; the browser test will be skipped)" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.labelgen-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test,opengl]"
  touch "$stamp"
fi
