"""TF Serving's version folders, written atomically.

TF Serving polls `<base_dir>/<name>/` and loads integer-named subfolders. A version is built in a
hidden temporary sibling (`.tmp-<version>-...`, a name the server ignores) and renamed into place
when complete, so the server never loads half a model; an existing version is refused unless
`overwrite=True` (then the old folder is moved aside, the new one renamed in, the old one deleted).
"""

import os
import pathlib
import shutil
import tempfile

import numpy as np


def existing_versions(model_dir):
    """Integer version directories under `<base_dir>/<name>`, sorted."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir):
    """One more than the newest existing version, or 1."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def write_version_atomically(base_dir, name, version, write_fn, overwrite=False):
    """Runs `write_fn(tmp_dir)` then renames `tmp_dir` to `<base_dir>/<name>/<version>`.

    Args:
        base_dir: the directory TF Serving is pointed at holds one folder per model name.
        name: model name (a folder name; no path separators).
        version: positive integer, or None for the next free version.
        write_fn: writes a complete SavedModel into the directory it is given.
        overwrite: replace an existing version (the old one is moved aside first, then deleted).

    Returns:
        The final version directory.
    """
    if not name or os.sep in str(name) or str(name).startswith("."):
        raise ValueError(f"`name` must be a plain folder name. Received: name={name!r}")
    model_dir = pathlib.Path(base_dir) / str(name)
    model_dir.mkdir(parents=True, exist_ok=True)
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or int(version) < 1:
        raise ValueError(f"`version` must be a positive integer. Received: version={version!r}")
    final_dir = model_dir / str(int(version))
    if final_dir.exists() and not overwrite:
        raise FileExistsError(
            f"Version {int(version)} of model {name!r} already exists at {final_dir}. "
            "Pass overwrite=True (--overwrite) to replace it, or choose another version."
        )
    tmp_dir = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{int(version)}-", dir=model_dir))
    try:
        write_fn(tmp_dir)
        if final_dir.exists():
            trash = pathlib.Path(tempfile.mkdtemp(prefix=f".old-{int(version)}-", dir=model_dir))
            os.rename(final_dir, trash / "old")
            os.rename(tmp_dir, final_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp_dir, final_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return final_dir
