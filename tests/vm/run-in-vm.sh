#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# run-in-vm.sh [--timeout SECS] -- CMD...
#
# Boots Debian 12's own kernel (linux-image-amd64, 6.1, CONFIG_TLS=m) under
# qemu with the host's root file system as the guest's (read-only, 9p) and
# runs CMD there as root, from the project directory, with the binaries
# built on the host. Exits with CMD's status; 124 when the VM ran out of
# time (qemu is killed); 125 when the VM failed before CMD finished.
#
# The kernel package and the initramfs are made once and kept in build/vm/
# (never committed). Serial output goes to build/vm/run.<pid>/serial.log
# (also build/vm/last-serial.log); CMD's part of it is shown as it comes.
# Inside the VM NAMETAG_VM=1 is set, / is read-only, and /tmp, /run and
# build/vm/scratch are empty tmpfs.
set -euo pipefail

PROJ=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$PROJ/tests/vm
VMDIR=$PROJ/build/vm
KDIR=$VMDIR/kernel
INITRD=$VMDIR/initramfs.cpio.gz
TIMEOUT=300

# Drivers for the 9p root (DESIGN.md). Their dependencies are taken from
# modules.dep and loaded first: on 6.1.0-56, virtio needs virtio_ring.
BOOT_MODULES="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev
	      virtio_pci netfs fscache 9pnet 9pnet_virtio 9p"

die() {
	echo "run-in-vm: $*" >&2
	exit 125
}

usage() {
	echo "usage: $0 [--timeout SECS] -- CMD..." >&2
	exit 2
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
		--) shift; break ;;
		*) usage ;;
		esac
	done
	[ $# -gt 0 ] || usage
	[[ $TIMEOUT =~ ^[0-9]+$ ]] || usage
	CMD=("$@")
}

check_tools() {
	local t
	for t in qemu-system-x86_64 cpio gzip depmod dpkg-deb apt-get apt-cache; do
		command -v "$t" >/dev/null ||
			die "$t not found (make deps installs qemu-system-x86, cpio, kmod)"
	done
	BUSYBOX=$(command -v busybox) ||
		die "busybox not found (install busybox-static)"
	# A dynamic busybox would find no libc in the initramfs.
	if LC_ALL=C ldd "$BUSYBOX" >/dev/null 2>&1; then
		die "$BUSYBOX is dynamically linked (install busybox-static)"
	fi
	case $PROJ in
	*[[:space:]]*) die "the project path may not hold spaces (kernel command line): $PROJ" ;;
	esac
}

# The linux-image-6.1.0-N-amd64 package that linux-image-amd64 pulls in.
kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}

fetch_kernel() {
	local pkg tmp deb ver
	[ -f "$KDIR/VERSION" ] && return 0
	pkg=$(kernel_package)
	if [ -z "$pkg" ]; then
		echo "run-in-vm: apt lists empty, running apt-get update" >&2
		apt-get update -qq >&2 || die "apt-get update failed"
		pkg=$(kernel_package)
		[ -n "$pkg" ] || die "apt knows no linux-image-amd64 dependency"
	fi
	echo "run-in-vm: fetching $pkg (once, kept in $KDIR)" >&2
	tmp=$VMDIR/kernel.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp/dl"
	(cd "$tmp/dl" && apt-get download -q "$pkg" >download.log 2>&1) ||
		die "apt-get download $pkg failed: $(tail -n 3 "$tmp/dl/download.log")"
	deb=$(ls "$tmp"/dl/*.deb)
	dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
	ver=$(ls "$tmp/root/lib/modules")
	[ -f "$tmp/root/boot/vmlinuz-$ver" ] || die "no vmlinuz-$ver in $pkg"
	decompress_modules "$tmp/root/lib/modules/$ver"
	depmod -b "$tmp/root" "$ver" || die "depmod failed"
	rm -rf "$tmp/dl"
	echo "$ver" >"$tmp/root/VERSION"
	rm -rf "$KDIR"
	mv "$tmp/root" "$KDIR"
	rmdir "$tmp"
}

# busybox insmod/modprobe read plain .ko files only. Debian 12's kernel
# ships them uncompressed; a later one might not.
decompress_modules() {
	local f
	while IFS= read -r -d '' f; do
		case $f in
		*.xz) xz -d "$f" ;;
		*.zst) zstd -q -d --rm "$f" ;;
		*.gz) gzip -d "$f" ;;
		esac || die "cannot decompress $f"
	done < <(find "$1" -name '*.ko.xz' -print0 -o -name '*.ko.zst' -print0 \
		-o -name '*.ko.gz' -print0)
}

# Paths (relative to lib/modules/VER) of BOOT_MODULES and everything they
# need, each after its dependencies, each once. modules.dep lists a
# module's dependencies so that loading them last to first works.
module_files() {
	local dep=$KDIR/lib/modules/$1/modules.dep
	awk -v want="$BOOT_MODULES" '
		function base(p) { sub(/.*\//, "", p); sub(/\.ko$/, "", p); return p }
		{ sub(/:$/, "", $1); line[base($1)] = $0 }
		END {
			n = split(want, w, /[ \t\n]+/)
			for (i = 1; i <= n; i++) {
				if (w[i] == "") continue
				if (!(w[i] in line)) { print "missing:" w[i]; exit 1 }
				k = split(line[w[i]], d, / /)
				sub(/:$/, "", d[1])
				for (j = k; j >= 2; j--) add(d[j])
				add(d[1])
			}
		}
		function add(p) { if (!(p in seen)) { seen[p] = 1; print p } }
	' "$dep"
}

# Rebuilt when missing or older than its inputs (this script, /init).
build_initramfs() {
	local ver=$1 st m f files
	if [ -f "$INITRD" ] && [ "$INITRD" -nt "$HERE/vm-init.sh" ] &&
	   [ "$INITRD" -nt "$HERE/run-in-vm.sh" ] &&
	   [ "$INITRD" -nt "$KDIR/VERSION" ]; then
		return 0
	fi
	echo "run-in-vm: building $INITRD" >&2
	st=$VMDIR/initramfs.d
	rm -rf "$st"
	mkdir -p "$st"/{bin,sbin,dev,proc,sys,host,lib/modules,modules,tmp}
	cp "$BUSYBOX" "$st/bin/busybox"
	for m in sh mount insmod modprobe ip env chroot poweroff cat echo mkdir; do
		ln -s busybox "$st/bin/$m"
	done
	ln -s ../bin/busybox "$st/sbin/modprobe"
	cp "$HERE/vm-init.sh" "$st/init"
	chmod 755 "$st/init"
	files=$(module_files "$ver") ||
		die "boot modules missing from modules.dep: $files"
	for f in $files; do
		m=$(basename "$f" .ko)
		cp "$KDIR/lib/modules/$ver/$f" "$st/modules/$m.ko"
		echo "$m" >>"$st/modules/order"
	done
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --quiet |
		gzip -9 >"$INITRD.tmp") || die "cpio failed"
	mv "$INITRD.tmp" "$INITRD"
	rm -rf "$st"
}

prepare() {
	mkdir -p "$VMDIR/scratch"
	exec 9>"$VMDIR/.lock"
	flock 9	# parallel runs share one download and one initramfs
	fetch_kernel
	KVER=$(cat "$KDIR/VERSION")
	build_initramfs "$KVER"
	exec 9>&-
}

# Shows the serial log between the markers while qemu runs. The markers
# are matched anywhere on a line: the firmware's screen-clearing escapes
# may precede them.
follow() {
	tail -s 0.2 -n +1 -F --pid="$1" "$2" 2>/dev/null |
		awk '{ sub(/\r$/, "") }
		     /NAMETAG-VM-EXIT=[0-9]+$/ {
			sub(/NAMETAG-VM-EXIT=[0-9]+$/, "")
			if (on && $0 != "") print
			exit
		     }
		     on { print; fflush() }
		     /NAMETAG-VM-BEGIN$/ { on = 1 }'
}

run_vm() {
	local run=$VMDIR/run.$$ log qpid rc status
	rm -rf "$run"
	mkdir -p "$run"
	log=$run/serial.log
	{
		printf 'cd %q || exit 125\nexec' "$PROJ"
		printf ' %q' "${CMD[@]}"
		printf '\n'
	} >"$run/cmd.sh"
	: >"$log"
	timeout -k 5 "$TIMEOUT" qemu-system-x86_64 \
		-accel tcg -cpu max -smp 2 -m 1024 \
		-nographic -no-reboot -nic none \
		-kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" \
		-append "console=ttyS0 quiet panic=-1 nametag_proj=$PROJ nametag_cmd=$run/cmd.sh" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		</dev/null >"$log" 2>&1 &
	qpid=$!
	follow "$qpid" "$log" &
	rc=0
	wait "$qpid" || rc=$?
	wait || true
	cp "$log" "$VMDIR/last-serial.log"
	status=$(tr -d '\r' <"$log" | sed -n 's/^.*NAMETAG-VM-EXIT=\([0-9]\+\)$/\1/p' |
		tail -n 1)
	if [ -n "$status" ] && grep -q 'NAMETAG-VM-BEGIN' "$log"; then
		rm -rf "$run"
		return "$status"
	fi
	if [ -n "$status" ]; then
		echo "run-in-vm: the VM failed to set up; last serial lines:" >&2
	elif [ "$rc" -eq 137 ] || [ "$rc" -eq 124 ]; then
		echo "run-in-vm: timed out after ${TIMEOUT}s; last serial lines:" >&2
		status=124
	else
		echo "run-in-vm: the VM stopped before the command finished (qemu exit $rc); last serial lines:" >&2
		status=125
	fi
	tr -d '\r' <"$log" | tail -n 30 >&2
	echo "run-in-vm: full log in $log" >&2
	return "$status"
}

main() {
	parse_args "$@"
	check_tools
	prepare
	run_vm
}

main "$@"
