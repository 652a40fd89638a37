#!/usr/bin/env python3
"""Builds two realistic upper layers above a base layer (build-debian-layer.sh), from this machine's files, the
way image builds make them (no network):

  layer 2, "install python and perl, upgrade some tools, clean up docs and locales":
    usr/lib/python3.11 and usr/share/perl (new), 150 files of the base's usr/bin with new content (an upgrade:
    same path, one more line), whiteouts of every 4th file of the base's usr/share/doc and of 20 folders under
    usr/share/locale and usr/share/icons/Adwaita (recursive folder removals);
  layer 3, "configure, add dist-packages, strip bytecode":
    etc and usr/lib/python3 (new), an opaque usr/lib/python3.11/email (.wh..wh..opq) of which this layer keeps
    the top-level modules a-m, whiteouts of layer 2's __pycache__ folders, 100 of layer 2's perl modules with
    new content, and whiteouts of 10 of the files layer 2 upgraded.

Every entry's folders are in the layer (depth-first order, as tar -c of a tree writes them, and as docker layers
carry the folders whose contents changed), so folder times are set by the layer and never left to "now". Whiteouts
and the changed files come from a staging folder, everything else from /, in one depth-first order. Paths are listed under their real
folders (usrmerge). usage: build-upper-layers.py BASE.tar OUTDIR  (writes OUTDIR/layer2.tar, OUTDIR/layer3.tar)
"""
import os
import shutil
import stat
import sys
import tarfile

base_tar, outdir = sys.argv[1], sys.argv[2]
with tarfile.open(base_tar) as t:
    base = {m.name: m for m in t.getmembers()}


def tree(root):
    """root and everything under it (from /), depth-first, no symlink followed."""
    out = [root]
    for dirpath, dirnames, filenames in os.walk("/" + root):
        dirnames.sort()
        rel = dirpath[1:]
        for n in sorted(dirnames + filenames):
            out.append(f"{rel}/{n}")
    return out


def ancestors(path):
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def make_layer(name, host, staged):
    """host: paths taken from /; staged: {path: writer(fullpath)} made in a staging folder."""
    stage = os.path.join(outdir, name + ".stage")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    for path, write in staged.items():
        full = os.path.join(stage, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        write(full)
    entries = {p: "/" for p in host}
    for p in staged:
        entries[p] = stage
    for p in list(entries):
        for a in ancestors(p):
            entries.setdefault(a, "/")
    # one archive in depth-first order, each entry from / or from the staging folder (GNU tar 1.34 does not
    # switch folders reliably inside a -T list); PAX like the base layer, hard links as links
    with tarfile.open(os.path.join(outdir, name + ".tar"), "w", format=tarfile.PAX_FORMAT) as out:
        for p in sorted(entries, key=lambda p: p.split("/")):
            out.add(os.path.join(entries[p], p), arcname=p, recursive=False)
    shutil.rmtree(stage)
    whiteouts = sum(1 for p in staged if os.path.basename(p).startswith(".wh."))
    print(f"{name}: {len(entries)} entries, {whiteouts} whiteouts, {len(staged) - whiteouts} changed files")


def whiteout(full):
    open(full, "w").close()


def upgraded(src, mode, uid, gid, mtime):
    def write(full):
        with open(src, "rb") as i, open(full, "wb") as o:
            shutil.copyfileobj(i, o)
            o.write(b"\n# upgraded by the layer above\n")
        os.chown(full, uid, gid)
        os.chmod(full, mode)
        os.utime(full, (mtime + 60, mtime + 60))
    return write


def base_files(prefix):
    return sorted(n for n, m in base.items() if n.startswith(prefix) and m.isfile())


# --- layer 2
host2 = tree("usr/lib/python3.11") + tree("usr/share/perl")
staged2 = {}
for n in base_files("usr/bin/")[:150]:
    m = base[n]
    staged2[n] = upgraded("/" + n, m.mode, m.uid, m.gid, int(m.mtime))
upgraded2 = list(staged2)
for n in base_files("usr/share/doc/")[::4]:
    staged2[f"{os.path.dirname(n)}/.wh.{os.path.basename(n)}"] = whiteout
locales = sorted({n.split("/")[3] for n in base if n.startswith("usr/share/locale/") and n.count("/") >= 4})
for d in locales[:20]:
    staged2[f"usr/share/locale/.wh.{d}"] = whiteout
if "usr/share/icons/Adwaita" in base:
    staged2["usr/share/icons/.wh.Adwaita"] = whiteout
make_layer("layer2", host2, staged2)

# --- layer 3
email = "usr/lib/python3.11/email"
host3 = tree("etc") + tree("usr/lib/python3")
host3 += [f"{email}/{n}" for n in sorted(os.listdir("/" + email)) if n.endswith(".py") and n[0] <= "m"]
staged3 = {f"{email}/.wh..wh..opq": whiteout}
for p in tree("usr/lib/python3.11"):
    if os.path.basename(p) == "__pycache__" and not p.startswith(email + "/"):
        staged3[f"{os.path.dirname(p)}/.wh.__pycache__"] = whiteout
perl = [p for p in tree("usr/share/perl") if p.endswith(".pm") and stat.S_ISREG(os.lstat("/" + p).st_mode)]
for p in perl[:100]:
    st = os.lstat("/" + p)
    staged3[p] = upgraded("/" + p, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime))
for n in upgraded2[:10]:
    staged3[f"{os.path.dirname(n)}/.wh.{os.path.basename(n)}"] = whiteout
make_layer("layer3", host3, staged3)
