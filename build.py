"""Build dist/claudebox.pyz: a reproducible shiv zipapp of the stdlib-only claudebox module.

claudebox has no dependencies, so nothing is pip-installed: shiv packs a temporary
site-packages directory that holds only a copy of claudebox.py. Two builds of the same
source give byte-identical archives (fixed timestamps via SOURCE_DATE_EPOCH, shiv's
content-derived build id).

    python3 build.py                      # -> dist/claudebox.pyz
    python3 build.py --source DIR -o OUT  # another source tree or output path
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent
MODULE: Final = "claudebox.py"
ENTRY_POINT: Final = "claudebox:console_main"
SHEBANG: Final = "/usr/bin/env python3"
# Where the .pyz unpacks itself on its first run of each version (shiv's default is ~/.shiv):
# inside claudebox's own state directory. SHIV_ROOT overrides it (the Nix package points it at
# a copy unpacked at build time).
UNPACK_ROOT: Final = "~/.claudebox/shiv"
# 1980-01-01T00:00:00Z, the earliest timestamp a zip archive can store.
DEFAULT_SOURCE_DATE_EPOCH: Final = "315532800"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Build a reproducible claudebox.pyz with shiv.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO_ROOT,
        help=f"directory holding {MODULE} (default: the repository root)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=REPO_ROOT / "dist" / "claudebox.pyz",
        help="output file (default: dist/claudebox.pyz)",
    )
    parser.add_argument(
        "--python",
        default=SHEBANG,
        help=f"interpreter for the shebang line (default: {SHEBANG!r})",
    )
    return parser


def shiv_command(site_packages: Path, output: Path, python: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "shiv",
        "--site-packages",
        os.fspath(site_packages),
        "--entry-point",
        ENTRY_POINT,
        "--python",
        python,
        "--root",
        UNPACK_ROOT,
        "--output-file",
        os.fspath(output),
        "--reproducible",
        "--compressed",
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(source: Path, output: Path, python: str) -> Path:
    module = source / MODULE
    if not module.is_file():
        raise SystemExit(f"build.py: error: {module} not found (use --source DIR)")
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("SOURCE_DATE_EPOCH", DEFAULT_SOURCE_DATE_EPOCH)
    with tempfile.TemporaryDirectory(prefix="claudebox-build-") as tmp:
        site_packages = Path(tmp) / "site-packages"
        site_packages.mkdir()
        shutil.copyfile(module, site_packages / MODULE)
        (site_packages / MODULE).chmod(0o644)  # the zip records modes: keep the umask out of it
        tmp_output = Path(tmp) / output.name
        subprocess.run(
            shiv_command(site_packages, tmp_output, python),
            check=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        tmp_output.chmod(0o755)
        shutil.move(tmp_output, output)
    return output


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = build(args.source, args.output, args.python)
    except subprocess.CalledProcessError as error:
        print(f"build.py: error: shiv failed with exit status {error.returncode}", file=sys.stderr)
        return 1
    print(f"{output}  sha256:{sha256(output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
