"""Build the Blender extension zip and a legacy add-on zip into ``dist/``.

    python hosts/blender/build.py [--out dist]

- ``dist/fast_artistic_videos-<version>.zip``: a Blender 4.2+ extension (``blender_manifest.toml`` and the
  modules at the zip root); install with Edit > Preferences > Get Extensions > Install from Disk, or
  ``blender --command extension install-file -r user_default <zip>``.
- ``dist/fast_artistic_videos-<version>-legacy.zip``: the same modules in one ``fast_artistic_videos/`` folder
  without the manifest, for "Install legacy Add-on" (``bl_info`` in ``__init__.py``).

The zips carry only pure-Python glue (no wheels): the core and torch run in a Python the user points to.
Besides the modules of this folder they hold ``jobclient.py``, a verbatim copy of ``fav_core/jobclient.py`` (the
job-protocol client, standard library only), so the extension works where ``fav_core`` is not installed in
Blender's Python. Standard library only, so it runs with any Python 3.11+.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = "blender_manifest.toml"
EXCLUDE = {"build.py"}
#: Core modules shipped inside the zips (pure standard library): source path -> name in the zip.
BUNDLED = {HERE.parent.parent / "fav_core" / "jobclient.py": "jobclient.py"}


def package_files(folder: Path = HERE) -> list[Path]:
    """The files that go into both zips: every module of the extension (sorted, no caches, no build.py)."""
    return sorted(p for p in folder.glob("*.py") if p.name not in EXCLUDE)


def bundled_files() -> dict[Path, str]:
    """The core modules copied into both zips, by their name there.

    Raises:
        FileNotFoundError: one is missing (the script must run from a checkout).
    """
    for path in BUNDLED:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; build the extension from a checkout of the project")
    return dict(BUNDLED)


def manifest(folder: Path = HERE) -> dict[str, object]:
    """The parsed ``blender_manifest.toml``."""
    with open(folder / MANIFEST, "rb") as f:
        return tomllib.load(f)


def build(out: Path, folder: Path = HERE) -> tuple[Path, Path]:
    """Write the extension zip and the legacy zip into ``out``; returns their paths."""
    info = manifest(folder)
    ext_id, version = str(info["id"]), str(info["version"])
    out.mkdir(parents=True, exist_ok=True)
    files = package_files(folder)
    bundled = bundled_files()
    clash = sorted(set(bundled.values()) & {p.name for p in files})
    if clash:
        raise FileExistsError(f"{folder}: {', '.join(clash)} would hide the bundled core module(s)")
    extension = out / f"{ext_id}-{version}.zip"
    legacy = out / f"{ext_id}-{version}-legacy.zip"
    with zipfile.ZipFile(extension, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(folder / MANIFEST, MANIFEST)
        for path in files:
            z.write(path, path.name)
        for path, name in bundled.items():
            z.write(path, name)
    with zipfile.ZipFile(legacy, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files:
            z.write(path, f"{ext_id}/{path.name}")
        for path, name in bundled.items():
            z.write(path, f"{ext_id}/{name}")
    return extension, legacy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Blender extension and legacy add-on zips.")
    parser.add_argument("--out", type=Path, default=HERE.parent.parent / "dist", help="output folder")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
