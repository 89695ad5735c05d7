#!/usr/bin/env python3
"""Builds a busybox image as a `docker save` archive, which `ctr images import`,
`podman load` and `docker load` all accept: no registry exists here.

    make-image.py OUT.tar TAG [TAG...]

The image holds busybox-static with its applets in /bin, a passwd and group with root,
a user 1000 and nobody, and empty /proc /sys /dev /tmp /etc. Its config runs `sh`."""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time

BUSYBOX = "/bin/busybox"


def add_dir(tar, name, mode=0o755):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def layer() -> bytes:
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ["bin", "dev", "etc", "proc", "sys", "root", "home", "home/user"]:
            add_dir(tar, d)
        add_dir(tar, "tmp", 0o1777)
        with open(BUSYBOX, "rb") as f:
            add_bytes(tar, "bin/busybox", f.read(), 0o755)
        for name in sorted(set(applets.stdout.split())):
            if name == "busybox":
                continue
            link = tarfile.TarInfo("bin/" + name)
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                  b"user:x:1000:1000:user:/home/user:/bin/sh\n"
                  b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        add_bytes(tar, "etc/group", b"root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")
    return buf.getvalue()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, tags = sys.argv[1], sys.argv[2:]
    layer_tar = layer()
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "integration/engines/make-image.py"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_dir = diff_id.split(":")[1]
    manifest = json.dumps([{"Config": config_name, "RepoTags": tags,
                            "Layers": [layer_dir + "/layer.tar"]}]).encode()
    with tarfile.open(out, "w") as tar:
        add_bytes(tar, config_name, config)
        add_dir(tar, layer_dir)
        add_bytes(tar, layer_dir + "/VERSION", b"1.0")
        add_bytes(tar, layer_dir + "/layer.tar", layer_tar)
        add_bytes(tar, "manifest.json", manifest)
    os.chmod(out, 0o644)


if __name__ == "__main__":
    main()
