#!/usr/bin/env bash
# Builds the test/demo base image: a root filesystem tar made from the host's static busybox
# (Debian package busybox-static). The tar is deterministic (sorted names, mtime 0, root-owned,
# fixed modes), so importing it always yields the same layer diff_id.
#
# usage: scripts/mkimage.sh OUT.tar [BUSYBOX]
set -euo pipefail

out=${1:?usage: mkimage.sh OUT.tar [BUSYBOX]}
busybox=${2:-/bin/busybox}

if [[ ! -x $busybox ]]; then
    echo "mkimage: $busybox not found; run 'make deps' (installs busybox-static)" >&2
    exit 1
fi
if ! LC_ALL=C "$busybox" --list >/dev/null 2>&1; then
    echo "mkimage: $busybox is not a busybox binary" >&2
    exit 1
fi
# A dynamically linked busybox would need the host's libc inside the image.
if command -v ldd >/dev/null && ldd "$busybox" 2>&1 | grep -q '=>'; then
    echo "mkimage: $busybox is dynamically linked; install busybox-static ('make deps')" >&2
    exit 1
fi

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

mkdir -p "$root"/{bin,dev,etc,home/app,proc,root,sys,tmp,usr/bin,var}
install -m 0755 "$busybox" "$root/bin/busybox"
# One symlink per applet, all in /bin (as the official busybox image does); `sh` is one of them.
while read -r applet; do
    [[ $applet == busybox ]] && continue
    ln -sf busybox "$root/bin/$applet"
done < <(LC_ALL=C "$busybox" --list | LC_ALL=C sort -u)
[[ -L $root/bin/sh ]] || ln -s busybox "$root/bin/sh"
# Scripts commonly use #!/usr/bin/env.
ln -s ../../bin/env "$root/usr/bin/env"

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
app:x:1000:
nogroup:x:65534:
GROUP
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 0700 "$root/root"
chmod 0755 "$root/home/app"
chmod 1777 "$root/tmp"

mkdir -p "$(dirname "$out")"
tmp_out=$(mktemp "$(dirname "$out")/.busybox.tar.XXXXXX")
# Top-level names sorted, and --sort=name below them: the byte stream depends only on the content.
mapfile -t top < <(cd "$root" && LC_ALL=C ls -A | LC_ALL=C sort)
LC_ALL=C tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$root" -cf "$tmp_out" "${top[@]}"
chmod 0644 "$tmp_out"
mv -f "$tmp_out" "$out"
echo "mkimage: wrote $out ($(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -c1-12))"
