"""Profile packages against real bwrap: the resolved store path's bin is on PATH inside."""

from __future__ import annotations

import json

from harness import HELLO_STORE, Box


def test_a_profile_package_is_on_path_inside(box: Box) -> None:
    log = box.root / "nix.log"
    fake_nix = box.root / "bin" / "nix"
    fake_nix.parent.mkdir(mode=0o755)
    fake_nix.write_text(
        f'#!/bin/sh\necho "$*" >> {log}\n'
        f'case "$*" in *"#hello") echo \'[{{"outputs":{{"out":"{HELLO_STORE}"}}}}]\' ;;'
        " *) exit 1 ;; esac\n"
    )
    fake_nix.chmod(0o755)
    log.touch()
    box.chown(log)
    state = box.mkdir(box.home / ".claudebox")
    state.chmod(0o700)
    box.mkdir(state / "profiles").chmod(0o700)
    box.write(state / "profiles" / "default.json", json.dumps({"packages": ["hello"]}))
    env = {
        "PATH": f"{fake_nix.parent}:{box.host_path()}",
        "CLAUDEBOX_NIXPKGS": "path:/nix/store/0000000000000000000000000000000x-nixpkgs",
    }
    first = box.probe("hello; echo $PATH", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "Hello from the store"
    assert first.stdout.splitlines()[1].startswith(f"{HELLO_STORE}/bin:")
    assert f"claudebox: hello -> {HELLO_STORE}" in first.stderr
    second = box.probe("hello", env=env)
    assert second.stdout == "Hello from the store\n"
    assert "resolving" not in second.stderr
    assert len(log.read_text().splitlines()) == 1  # the second launch asked nix nothing
