"""TF Serving's version folders, claimed atomically, never replaced without `overwrite`.

TF Serving polls `<base_dir>/<name>/` and loads integer-named subfolders. An export is written in
the model folder's own hidden scratch area, `<base_dir>/<name>/.tmp/<pid>-<random>/` (a name the
server ignores, on the same file system as the version folders), and only a complete version is
renamed onto its number:

- the number is claimed by that rename: `rename(2)` of a directory onto an existing non-empty
  directory fails (ENOTEMPTY / EEXIST), and every version folder holds at least `saved_model.pb`,
  so two exports can never both "win" the same number; without an explicit version the loser
  retries with the next free number, with an explicit one it raises `FileExistsError`;
- `overwrite=True` (explicit version only) moves the old folder into the scratch area, renames the
  new one in and deletes the old one: the number is missing for the moment between the two renames,
  never half written;
- folders are made 0755 and files 0644 before the rename (whatever the umask), so a server running
  as another user can read them;
- scratch folders of exports that died (their process is gone), and the `.tmp-N-*` / `.old-N-*`
  siblings of older versions of this module, are deleted by the next export into the same model
  folder.
"""

import contextlib
import errno
import inspect
import os
import pathlib
import shutil
import uuid

import numpy as np

SCRATCH = ".tmp"
DIR_MODE = 0o755
FILE_MODE = 0o644
MAX_CLAIM_ATTEMPTS = 100
MAX_VERSION = 2**63 - 1  # TF Serving parses version folder names as int64


def existing_versions(model_dir):
    """Integer version directories under `<base_dir>/<name>`, sorted."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir):
    """One more than the newest existing version, or 1 (ValueError past `MAX_VERSION`)."""
    versions = existing_versions(model_dir)
    candidate = versions[-1] + 1 if versions else 1
    if candidate > MAX_VERSION:
        raise ValueError(f"The newest version in {model_dir} is {versions[-1]}: the next would pass TF Serving's "
                         f"int64 limit {MAX_VERSION}; pass --version with a free number")
    return candidate


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def clean_stale_scratch(model_dir):
    """Deletes scratch folders whose export process is gone; returns the paths removed."""
    model_dir = pathlib.Path(model_dir)
    removed = []
    candidates = [p for p in model_dir.glob(".tmp-*") if p.is_dir()] + [p for p in model_dir.glob(".old-*") if p.is_dir()]
    scratch = model_dir / SCRATCH
    if scratch.is_dir():
        for entry in scratch.iterdir():
            pid = entry.name.split("-", 1)[0]
            if not pid.isdigit() or not _process_alive(int(pid)):
                candidates.append(entry)
    for path in candidates:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(path)
    return removed


@contextlib.contextmanager
def scratch_dir(parent):
    """A fresh folder `<parent>/.tmp/<pid>-<random>/`, deleted on exit (stale ones first)."""
    parent = pathlib.Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale_scratch(parent)
    (parent / SCRATCH).mkdir(exist_ok=True)
    path = parent / SCRATCH / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            (parent / SCRATCH).rmdir()  # only when no other export is using it


def set_permissions(root):
    """Makes `root` and every folder below it 0755 and every file 0644 (readable by a server)."""
    root = pathlib.Path(root)
    os.chmod(root, DIR_MODE)
    for directory, folders, files in os.walk(root):
        for name in folders:
            os.chmod(os.path.join(directory, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(directory, name), FILE_MODE)


def _check_name_and_version(name, version):
    if not name or os.sep in str(name) or str(name).startswith("."):
        raise ValueError(f"`name` must be a plain folder name. Received: name={name!r}")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, (int, np.integer)) or not 1 <= int(version) <= MAX_VERSION
    ):
        raise ValueError(f"`version` must be an integer in [1, {MAX_VERSION}] (TF Serving reads versions as int64). "
                         f"Received: version={version!r}")


def _rename_no_replace(source, target):
    """`os.rename` that refuses an existing target; returns False when the target exists."""
    if target.exists():
        return False
    try:
        os.rename(source, target)  # fails on an existing non-empty directory
    except OSError as error:
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True


def write_version_atomically(base_dir, name, version, write_fn, overwrite=False):
    """Runs `write_fn(tmp_dir, scratch)` and claims `<base_dir>/<name>/<version>` for the result.

    Args:
        base_dir: the directory TF Serving is pointed at holds one folder per model name.
        name: model name (a folder name; no path separators).
        version: positive integer, or None for the next free version (retrying with the next
            number when another export claims it first).
        write_fn: `write_fn(tmp_dir)` or `write_fn(tmp_dir, scratch)` writes a complete, non-empty
            SavedModel into `tmp_dir`; `scratch` is a private folder in the same hidden area for
            files it needs meanwhile.
        overwrite: with an explicit `version`, replace an existing version.

    Returns:
        The final version directory.

    Raises:
        FileExistsError: the explicit version exists (or appeared during the export) and
            `overwrite` is False.
    """
    _check_name_and_version(name, version)
    model_dir = pathlib.Path(base_dir) / str(name)
    if version is None:
        next_version(model_dir)  # past the int64 limit: refused before the export's work
    if version is not None and (model_dir / str(int(version))).exists() and not overwrite:
        raise FileExistsError(
            f"Version {int(version)} of model {name!r} already exists at {model_dir / str(int(version))}. "
            "Pass overwrite=True (--overwrite) to replace it, or choose another version."
        )
    with scratch_dir(model_dir) as work:
        tmp_dir = work / "version"
        tmp_dir.mkdir()
        files = work / "scratch"
        files.mkdir()
        if len(inspect.signature(write_fn).parameters) >= 2:
            write_fn(tmp_dir, files)
        else:
            write_fn(tmp_dir)
        if not any(tmp_dir.iterdir()):
            raise RuntimeError(f"The export wrote nothing into {tmp_dir}; no version was claimed")
        set_permissions(tmp_dir)
        if version is not None:
            final_dir = model_dir / str(int(version))
            if _rename_no_replace(tmp_dir, final_dir):
                return final_dir
            if not overwrite:
                raise FileExistsError(
                    f"Version {int(version)} of model {name!r} appeared at {final_dir} during this export; "
                    "it was left as it is. Pass overwrite=True (--overwrite) to replace it, or choose another version."
                )
            old = work / "old"
            os.rename(final_dir, old)
            os.rename(tmp_dir, final_dir)
            return final_dir
        candidate = next_version(model_dir)
        for _ in range(MAX_CLAIM_ATTEMPTS):
            final_dir = model_dir / str(candidate)
            if _rename_no_replace(tmp_dir, final_dir):
                return final_dir
            candidate = max(candidate + 1, next_version(model_dir))
        raise FileExistsError(f"Could not claim a free version of model {name!r} in {model_dir} after "
                              f"{MAX_CLAIM_ATTEMPTS} attempts (other exports keep taking them)")
