#!/usr/bin/env python3
"""Builds the gateway's API reference into DEST: Swagger UI's files, vendored from a
pinned PyPI package (drf-spectacular-sidecar ships swagger-ui-dist; only its static files
are taken, none of its Python), and our page (deploy/docs). make run, e2e and the
compose file's `docs` step run it; nginx serves DEST at /docs/.

    docs-site.py DEST [--cache DIR]
"""
import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "drf-spectacular-sidecar==2026.10.1"
PREFIX = "drf_spectacular_sidecar/static/drf_spectacular_sidecar/swagger-ui-dist/"
FILES = ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "LICENSE", "favicon-32x32.png"]


def main():
    arguments = argparse.ArgumentParser(description="Builds the gateway's API reference into DEST.")
    arguments.add_argument("dest", type=pathlib.Path)
    arguments.add_argument("--cache", type=pathlib.Path, help="where the downloaded wheel is kept (default: a temporary folder)")
    arguments.add_argument("--site", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent / "deploy" / "docs",
                           help="our page and initializer (default: deploy/docs)")
    options = arguments.parse_args()
    dest, site = options.dest, options.site
    cache = options.cache or pathlib.Path(tempfile.mkdtemp())
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("drf_spectacular_sidecar-2026.10.1-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(cache), PACKAGE],
                       check=True)
        wheels = sorted(cache.glob("drf_spectacular_sidecar-2026.10.1-*.whl"))
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name in FILES:
            (dest / name).write_bytes(wheel.read(PREFIX + name))
    for page in site.iterdir():
        shutil.copy(page, dest / page.name)
    print(f"API reference in {dest}")


if __name__ == "__main__":
    main()
