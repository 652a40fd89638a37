#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine (run as root). Idempotent.
#   Node.js + npm (the s3rver S3 endpoint), e2fsprogs/util-linux (mkfs.ext4, losetup, mount),
#   xfsprogs (mkfs.xfs: block-file pools on their own reflink filesystem),
#   dmsetup (devicemapper tools), prometheus (promtool) and prometheus-node-exporter (metrics tests),
#   openssh-server, openssh-client and iproute2 (the runbook's remoting test, tests/acceptance/Fleet.Tests.ps1:
#   sshd and ssh between network namespaces the test makes with ip and unshare), and the qemu VM harness for the devicemapper tests (tests/vm/setup.sh).
#   Restores the pinned test tools: pwsh (PowerShell 7.6.10, .config/dotnet-tools.json, run as `dotnet pwsh`)
#   and Pester (tests/tools/TestTools.csproj, version in Directory.Packages.props).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v losetup >/dev/null || need+=(util-linux)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v dmsetup >/dev/null || need+=(dmsetup)
command -v curl >/dev/null || need+=(curl)
# the real consumers of the metrics (promtool check metrics; node_exporter's textfile collector) and the runbook's sshd
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
(cd "$here/.." && dotnet tool restore >/dev/null && dotnet restore tests/tools/TestTools.csproj -nologo -v q >/dev/null)
(cd "$here/s3rver" && { [ -f node_modules/s3rver/bin/s3rver.js ] || npm ci --no-audit --no-fund --loglevel=error; })
if [ -x "$here/vm/setup.sh" ]; then
  "$here/vm/setup.sh"
fi
