#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# PID 1 of the test VM (busybox sh, copied to /init by run-in-vm.sh).
#
# Loads the drivers for the 9p root from /modules (in the order of
# /modules/order, dependencies first), mounts the host's root read-only,
# gives it the kernel file systems and writable scratch space, chroots into
# it and runs the command file the harness wrote. The kernel passes our
# own "name=value" boot parameters to us as environment variables:
#   nametag_proj  the project directory (same path on host and guest)
#   nametag_cmd   the command file to run there with /bin/sh
# The last line for the harness is "NAMETAG-VM-EXIT=<status>".
export PATH=/bin:/sbin

R=/host
rc=125

fail() {
	echo "vm-init: $*"
	echo "NAMETAG-VM-EXIT=$rc"
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || fail "insmod $m failed"
done

# cache=loose: the view is read-only and lives for one test run, and
# executables and libraries are read over and over.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 \
	hostroot "$R" || fail "cannot mount the host root over 9p"

# Modules the kernel loads on demand (tls, gcm, aesni_intel...) come from
# the extracted package. The kernel runs /sbin/modprobe in *this* root,
# whatever root our command is chrooted into.
K=$R$nametag_proj/build/vm/kernel/lib/modules
mount --bind "$K" /lib/modules || fail "no modules at $K"
echo /sbin/modprobe >/proc/sys/kernel/modprobe
# On a real node udev loads the CPU's crypto drivers at boot (the kernel
# itself would settle for the built-in aes-generic); do the same so that
# kTLS gets the AES-NI gcm(aes) it would get there.
modprobe aesni_intel 2>/dev/null || echo "vm-init: no aesni_intel, kTLS uses aes-generic"

ip link set lo up || fail "cannot bring lo up"

# A project that lives under /tmp or /run (a CI clone may) would vanish
# under the tmpfs mounted there: hold on to it and put it back after.
mkdir -p /proj && mount --bind "$R$nametag_proj" /proj ||
	fail "cannot hold on to $nametag_proj"

# The host root is read-only: the kernel file systems and every place a
# test writes to are mounted over it.
mount -t proc proc "$R/proc" &&
mount -t sysfs sysfs "$R/sys" &&
mount -t devtmpfs devtmpfs "$R/dev" &&
mkdir -p "$R/dev/pts" "$R/dev/shm" &&
mount -t devpts devpts "$R/dev/pts" &&
mount -t tmpfs tmpfs "$R/dev/shm" &&
mount -t tmpfs tmpfs "$R/tmp" &&
mount -t tmpfs tmpfs "$R/run" &&
mount -t bpf bpf "$R/sys/fs/bpf" &&
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup" ||
	fail "cannot mount the kernel file systems in the host root"
if [ ! -d "$R$nametag_proj/build" ]; then
	mkdir -p "$R$nametag_proj" && mount --bind /proj "$R$nametag_proj" ||
		fail "cannot put $nametag_proj back over the tmpfs"
fi
S=$R$nametag_proj/build/vm/scratch
if [ -d "$S" ]; then
	mount -t tmpfs tmpfs "$S" || fail "cannot mount scratch"
fi
# Tools inside the chroot (modprobe, lsmod) see the VM's modules too.
if [ -d "$R/lib/modules" ]; then
	mount --bind "$K" "$R/lib/modules"
fi

printf '\nNAMETAG-VM-BEGIN\n'
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb NAMETAG_VM=1 \
	chroot "$R" /bin/sh -c 'cd "$1" && exec /bin/sh "$2"' sh \
	"$nametag_proj" "$nametag_cmd" </dev/null
rc=$?
echo "NAMETAG-VM-EXIT=$rc"
poweroff -f
