"""Build the Lambda code zip: keyrotate plus its runtime dependencies, byte-identical every time.

    python deploy/package.py --output dist/keyrotate-lambda.zip

Why each choice:
- Dependencies come as manylinux wheels for the runtime and architecture main.yaml declares
  (python3.12, arm64), never as whatever the build machine happens to have compiled:
  pydantic-core, PyYAML and MarkupSafe carry native code.
- boto3/botocore are NOT bundled: the Lambda runtime provides them and AWS patches them with
  the runtime; keyrotate uses only long-standing APIs. ``--bundle-boto3`` bundles them for
  teams that want the zip to pin the SDK too.
- Only the product: ``src/keyrotate``. The emulator (``keyrotate_emulator``, the ``emulator``
  extra, moto) is test and demo equipment; the build fails if it ever reaches the zip.
- Deterministic: no .pyc (they embed mtimes), no console scripts (their shebangs name the build
  machine's python), entries sorted, every timestamp 1980-01-01, permissions 0644, fixed
  compression level. Two builds from the same tree and index give the same sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Must match main.yaml (Runtime / Architectures); tests/unit/test_deploy_templates.py checks it.
PYTHON_VERSION = "3.12"
ARCHITECTURE = "arm64"
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16
RUNTIME_PROVIDED = {"boto3", "botocore"}
PRODUCT = REPO / "src" / "keyrotate"
# Top-level names that must never ship: the emulator and what its extra brings.
NOT_SHIPPED = frozenset({"keyrotate_emulator", "moto"})


def runtime_requirements(pyproject: Path, *, bundle_boto3: bool) -> list[str]:
    """The package's dependencies plus its ``lambda`` extra, minus what the runtime provides."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["lambda"]]
    if bundle_boto3:
        return wanted
    return [req for req in wanted if _name(req) not in RUNTIME_PROVIDED]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    if match is None:
        raise ValueError(f"unparsable requirement {requirement!r} in pyproject.toml")
    return match.group(0).lower().replace("_", "-")


def install_dependencies(requirements: list[str], target: Path, *, python: str, arch: str) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--platform", PLATFORMS[arch], "--implementation", "cp",
        "--python-version", python, "--only-binary=:all:",
        "--target", str(target), *requirements,
    ]  # fmt: skip
    subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell


def copy_package(source: Path, target: Path) -> None:
    shutil.copytree(
        source,
        target / source.name,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )


def zip_entries(tree: Path) -> list[str]:
    """The zip's file names, sorted; refuses a tree holding what must not ship."""
    names = sorted(
        path.relative_to(tree).as_posix()
        for path in tree.rglob("*")
        if path.is_file() and not _skipped(path.relative_to(tree))
    )
    # "moto/..." and its dist-info ("moto-5.1.0.dist-info/...") alike
    shipped = {re.split(r"[/-]", name, maxsplit=1)[0] for name in names}
    if shipped & NOT_SHIPPED:
        raise SystemExit(f"refusing to build: the zip would hold {sorted(shipped & NOT_SHIPPED)}")
    return names


def write_zip(tree: Path, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w") as archive:
        for name in zip_entries(tree):
            path = tree / name
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.external_attr = FILE_MODE
            info.create_system = 3  # unix, so the mode bits are read as such
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def _skipped(relative: Path) -> bool:
    """Console scripts (top-level bin/) and bytecode caches: machine-specific, not needed."""
    return relative.parts[0] == "bin" or "__pycache__" in relative.parts


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(output: Path, *, python: str, arch: str, bundle_boto3: bool) -> str:
    requirements = runtime_requirements(REPO / "pyproject.toml", bundle_boto3=bundle_boto3)
    with tempfile.TemporaryDirectory(prefix="keyrotate-lambda-") as tmp:
        tree = Path(tmp)
        install_dependencies(requirements, tree, python=python, arch=arch)
        copy_package(PRODUCT, tree)
        write_zip(tree, output)
    return sha256(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "dist" / "keyrotate-lambda.zip")
    parser.add_argument("--python-version", default=PYTHON_VERSION)
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default=ARCHITECTURE)
    parser.add_argument("--bundle-boto3", action="store_true")
    args = parser.parse_args(argv)
    digest = build(
        args.output, python=args.python_version, arch=args.arch, bundle_boto3=args.bundle_boto3
    )
    size = args.output.stat().st_size
    print(f"{args.output}  {size} bytes  sha256 {digest}")
    print(f"upload as: keyrotate-lambda-{digest[:12]}.zip  (main.yaml CodeZipName)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
