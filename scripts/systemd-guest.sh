#!/usr/bin/env bash
# `make test-systemd`: rrun's systemd cgroup driver on a machine where systemd is PID 1.
#
# This host has no systemd as PID 1, so the tests boot a Debian bookworm guest under QEMU
# (TCG: KVM hangs on this machine): its root filesystem is made from Debian's packages by
# mmdebstrap (systemd, dbus, the engines, the cloud kernel and its initrd) once, and
# cached under build/systemd-guest/ as a disk image that runs never change (each boot
# writes to a throw-away qcow2 overlay). A second, small disk holds what this run tests:
# rrun, the integration test binary, the engine suites and the script to run. A oneshot
# unit of the guest's boot runs that script, prints its output on the serial console
# with the exit code last, and powers the guest off.
#
# Usage: [GUEST_STAGE=DIR] [GUEST_TIMEOUT=S] scripts/systemd-guest.sh [--cgroup v1|v2] SCRIPT [ARGS...]
#   SCRIPT runs (with bash) in the guest from the test disk's root, /mnt/t, which holds a
#   copy of DIR (scripts/test-systemd.sh puts the binaries and engine suites there). Its
#   output is build/systemd-guest/guest-<v1|v2>.log; the exit code is SCRIPT's.
set -euo pipefail
cd "$(dirname "$0")/.."
work=build/systemd-guest
mkdir -p "$work"

cgroup=v2
if [ "${1:-}" = --cgroup ]; then cgroup=$2; shift 2; fi
[ $# -ge 1 ] || { echo "usage: $0 [--cgroup v1|v2] SCRIPT [ARGS...]" >&2; exit 2; }

install_missing() {
    if [ $# -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    fi
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
install_missing "${need[@]}"
# Looked for only now: installing Debian's qemu-system-x86 removes a newer qemu-utils (this
# machine's image has bookworm-backports' 10.0), and qemu-img with it.
command -v qemu-img >/dev/null || install_missing qemu-utils

# What the guest has. Bump IMAGE_VERSION when the customisation below changes, so that a
# cached image is made anew.
IMAGE_VERSION=4
PACKAGES=(systemd systemd-sysv dbus dbus-user-session libpam-systemd linux-image-cloud-amd64
    containerd runc crun podman docker.io apparmor conmon catatonit fuse-overlayfs slirp4netns
    uidmap golang-github-containers-common iptables nftables iproute2 procps util-linux
    bsdextrautils kmod bats busybox-static python3 strace time e2fsprogs criu)
# The engines' own services are not started at boot: the suites start each engine on
# private sockets, as they do on the host. Podman's boot services (podman.service,
# podman-restart, podman-auto-update) mount Podman's storage, which the tests' mount checks
# would see if it happened while they ran. Timers and gettys would only slow the boot.
# AppArmor's service stays: it loads the profiles, as on the hosts the engines run on.
MASKED_UNITS=(docker.service docker.socket containerd.service
    podman.service podman.socket podman-restart.service
    podman-auto-update.service podman-auto-update.timer
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer
    serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service)
stamp="$IMAGE_VERSION ${PACKAGES[*]} ${MASKED_UNITS[*]}"

build_image() {
    local tree=$work/tree
    echo "systemd guest: building the root filesystem (mmdebstrap, once)" >&2
    rm -rf "$tree" "$work/base.img" "$work/vmlinuz" "$work/initrd.img"
    local include
    include=$(IFS=,; echo "${PACKAGES[*]}")
    mmdebstrap --variant=apt --include="$include" \
        --customize-hook='echo guest > "$1/etc/hostname"' \
        --customize-hook='printf "/dev/vda / ext4 rw,relatime 0 1\n" > "$1/etc/fstab"' \
        --customize-hook='chroot "$1" passwd -d root' \
        --customize-hook="systemctl --root=\"\$1\" mask ${MASKED_UNITS[*]}" \
        --customize-hook='mkdir -p "$1/mnt/t"' \
        --customize-hook='cat > "$1/etc/systemd/system/rrun-guest-test.service" <<UNIT
[Unit]
Description=rrun tests from the second disk
After=multi-user.target dbus.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c "mount /dev/vdb /mnt/t && cd /mnt/t && (sh ./guest-run.sh; echo SYSTEMD-GUEST-EXIT \$\$?) 2>&1 | tee -p /mnt/t/guest.log > /dev/ttyS0; sync; systemctl --no-block poweroff"
StandardOutput=tty
TTYPath=/dev/ttyS0
[Install]
WantedBy=multi-user.target
UNIT
            systemctl --root="$1" enable rrun-guest-test.service' \
        bookworm "$tree" http://deb.debian.org/debian >&2
    # A unit that is not masked starts at boot, beside the tests: say so now, not as a
    # flaky mount check later.
    local unit
    for unit in "${MASKED_UNITS[@]}"; do
        if [ "$(readlink "$tree/etc/systemd/system/$unit")" != /dev/null ]; then
            echo "systemd guest: $unit is not masked in the image" >&2
            exit 1
        fi
    done
    cp "$tree"/boot/vmlinuz-* "$work/vmlinuz"
    cp "$tree"/boot/initrd.img-* "$work/initrd.img"
    mkfs.ext4 -q -F -L guest-root -d "$tree" "$work/base.img" 6G
    rm -rf "$tree"
    echo "$stamp" > "$work/image.stamp"
}

if [ ! -f "$work/base.img" ] || [ "$(cat "$work/image.stamp" 2>/dev/null)" != "$stamp" ]; then
    build_image
fi

# The test disk: the script, what it names, and the engine suites.
stage=$work/stage
rm -rf "$stage" && mkdir -p "$stage"
script=$1; shift
cp "$script" "$stage/guest-script"
printf '#!/bin/sh\n' > "$stage/guest-run.sh"
printf 'echo "guest: kernel $(uname -r), systemd $(systemctl --version | head -1 | cut -d" " -f2), cgroup $(stat -f -c %%T /sys/fs/cgroup)"\n' >> "$stage/guest-run.sh"
printf 'exec bash ./guest-script' >> "$stage/guest-run.sh"
for a in "$@"; do printf ' %q' "$a" >> "$stage/guest-run.sh"; done
echo >> "$stage/guest-run.sh"
if [ -n "${GUEST_STAGE:-}" ]; then cp -a "$GUEST_STAGE"/. "$stage/"; fi
case $cgroup in
    v2) cg_args="systemd.unified_cgroup_hierarchy=1" ;;
    v1) cg_args="systemd.unified_cgroup_hierarchy=0" ;;
    *) echo "--cgroup: v1 or v2, not $cgroup" >&2; exit 2 ;;
esac
log=$work/console-$cgroup.log
guest_timeout=${GUEST_TIMEOUT:-1500}
# A fresh test disk and overlay each boot. loglevel=5 (after quiet, which systemd reads)
# puts a kernel report's stack on the console; a soft lockup panics the guest at once
# instead of hanging to the timeout (docs/design.md, "Testing on cgroup v2").
boot_guest() {
    rm -f "$work/tests.img"
    mkfs.ext4 -q -F -L guest-tests -d "$stage" "$work/tests.img" 1G
    rm -f "$work/overlay.qcow2"
    qemu-img create -q -f qcow2 -b "$(realpath "$work/base.img")" -F raw "$work/overlay.qcow2"
    qemu_status=0
    : > "$log"
    (
        timeout --kill-after=10 "$guest_timeout" qemu-system-x86_64 -accel tcg -cpu max -m 4096 -smp 2 \
            -nographic -no-reboot -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
            -drive "file=$work/overlay.qcow2,format=qcow2,if=virtio" \
            -drive "file=$work/tests.img,format=raw,if=virtio" \
            -append "root=/dev/vda rw console=ttyS0 quiet loglevel=5 softlockup_panic=1 panic=-1 systemd.mask=serial-getty@ttyS0.service $cg_args" |
            tee "$log"
        exit "${PIPESTATUS[0]}"
    ) &
    local qemu=$!
    # The emulated kernel has been seen to hang silently in its first second of boot
    # (no lockup report, the disks untouched): a guest whose tests have not begun
    # (guest-run.sh's first line) within GUEST_BOOT_TIMEOUT is stopped, not waited for
    # to the end of GUEST_TIMEOUT. A boot takes 20 to 60 s here.
    local waited=0
    boot_hung=no
    while kill -0 "$qemu" 2>/dev/null; do
        if [ "$waited" -ge "$boot_timeout" ] && ! grep -aq 'guest: kernel ' "$log"; then
            echo "systemd guest: no test began within GUEST_BOOT_TIMEOUT=$boot_timeout s; stopping the guest" >&2
            boot_hung=yes
            # `timeout` stops QEMU; the subshell then ends with tee.
            pkill -TERM -P "$qemu" -x timeout || true
            break
        fi
        sleep 5
        waited=$((waited + 5))
    done
    wait "$qemu" || qemu_status=$?
}
boot_timeout=${GUEST_BOOT_TIMEOUT:-300}
boot_guest
# As in the v2 guest: a boot whose kernel locked up or hung before the tests ended is
# booted again, once, its console kept; a test's own failure is never retried.
if ! debugfs -R "cat /guest.log" "$work/tests.img" 2>/dev/null | grep -a 'SYSTEMD-GUEST-EXIT' >/dev/null &&
    { [ "$boot_hung" = yes ] || grep -aq 'soft lockup\|Kernel panic' "$log"; }; then
    cp "$log" "$work/console-$cgroup-lockup.log"
    echo "systemd guest: the guest kernel locked up or hung (console in $work/console-$cgroup-lockup.log); booting it again, once" >&2
    boot_guest
fi
# The guest's own copy of its output, whole even if the console lost some of it.
debugfs -R "cat /guest.log" "$work/tests.img" 2>/dev/null > "$work/guest-$cgroup.log" || true
code=$(grep -a -o 'SYSTEMD-GUEST-EXIT [0-9]*' "$work/guest-$cgroup.log" | tail -1 | awk '{print $2}' || true)
if [ -z "$code" ]; then
    if [ "$boot_hung" = yes ]; then
        echo "systemd guest: the tests did not finish: the guest did not begin them within GUEST_BOOT_TIMEOUT=$boot_timeout s, twice" >&2
    elif [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ]; then
        echo "systemd guest: the tests did not finish: the guest was stopped after GUEST_TIMEOUT=$guest_timeout s" >&2
    else
        echo "systemd guest: the tests did not finish (QEMU's exit status $qemu_status)" >&2
    fi
    exit 1
fi
exit "$code"
