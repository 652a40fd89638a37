#!/usr/bin/env python3
"""Compares two extracted trees entry by entry without following symlinks: type, mode (incl.
setuid/setgid/sticky), owner, size, mtime (seconds), symlink target, xattrs, content hash, and
hard-link grouping. Prints the differences (at most 50) and exits 1 when there are any."""
import hashlib, os, stat, sys

def walk(root):
    out = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel == 'lost+found':
                continue  # made by mkfs.ext4, not by the extraction
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            desc = [kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)]
            if stat.S_ISREG(kind):
                h = hashlib.sha256()
                with open(full, 'rb') as f:
                    for chunk in iter(lambda: f.read(1 << 20), b''):
                        h.update(chunk)
                desc += [st.st_size, h.hexdigest()]
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(kind):
                desc.append(os.readlink(full))
            try:
                names = sorted(os.listxattr(full, follow_symlinks=False))
                desc.append([(n, os.getxattr(full, n, follow_symlinks=False)) for n in names])
            except OSError:
                desc.append('xattr-error')
            out[rel] = desc
    groups = sorted(tuple(sorted(v)) for v in inodes.values() if len(v) > 1)
    return out, groups

a, ga = walk(sys.argv[1])
b, gb = walk(sys.argv[2])
diffs = []
for k in sorted(set(a) | set(b)):
    if a.get(k) != b.get(k):
        diffs.append(f"{k}: {a.get(k)} != {b.get(k)}")
if ga != gb:
    diffs.append(f"hard-link groups differ: {len(ga)} vs {len(gb)}")
for d in diffs[:50]:
    print(d)
print(f"{len(a)} entries compared, {len(diffs)} differences")
sys.exit(1 if diffs else 0)
