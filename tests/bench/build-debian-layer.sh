#!/usr/bin/env bash
# Builds a realistic uncompressed layer from the files of installed Debian packages: required,
# important and standard priorities first, then optional packages by name (each under 40 MB), until
# about MB megabytes. Files are listed under their real folders (usrmerge: usr/bin/bash, not
# bin/bash) in depth-first order, as tar -c of a root file system writes them. No network.
# usage: build-debian-layer.sh OUT.tar [MB=250]
set -euo pipefail
out=$1
mb=${2:-250}
tmp=$(mktemp -d /tmp/flyimages-layer-XXXXXXXX)
trap 'rm -rf "$tmp"' EXIT
dpkg-query -W -f='${Priority} ${Installed-Size} ${Package}:${Architecture}\n' \
  | awk '{ p = ($1 == "required" ? 0 : $1 == "important" ? 1 : $1 == "standard" ? 2 : 3); print p, $3, $2 }' \
  | sort -k1,1n -k2,2 \
  | awk -v limit=$((mb * 1024)) '$3 < 40000 && total < limit { total += $3; print $2 }' > "$tmp/packages"
# the package file lists name paths through usrmerge symlinks (/bin/bash): list each file under its
# real folder (usr/bin/bash), as a root file system archive (or a docker layer) does
xargs -a "$tmp/packages" dpkg-query -L 2>/dev/null | python3 -c '
import os, sys
seen = set()
for line in sys.stdin:
    path = line.rstrip("\n")
    if not path.startswith("/") or path == "/":
        continue
    parent = os.path.realpath(os.path.dirname(path))
    real = os.path.join(parent, os.path.basename(path))
    if not os.path.lexists(real):
        continue
    # the folders on the way, then the entry itself
    parts = real.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        seen.add("/".join(parts[:i]))
# depth-first order (a folder, then everything in it), as tar -c of a tree writes it
for p in sorted(seen, key=lambda p: p.split("/")):
    print(p)
' > "$tmp/files"
tar --xattrs --format=pax --no-recursion -cf "$out" -C / -T "$tmp/files"
