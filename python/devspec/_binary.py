"""Finding the ``devspec`` binary, which only ``Study.run`` needs: as the ``devspec`` command
finds its worker, the argument first, then the ``DEVSPEC`` environment variable, then ``PATH``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Union

from .errors import DevspecNotFound

_HOW_TO_GET_IT = (
    "install it with `make install` in a devspec checkout (it puts devspec and its worker in "
    "~/.local/bin), or build it with `cargo build --release` and pass the path: "
    "Study(..., devspec='path/to/target/release/devspec') or DEVSPEC=path/to/devspec"
)


def find_devspec(given: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The ``devspec`` executable: ``given``, else ``$DEVSPEC``, else the first on ``PATH``.

    Raises :class:`DevspecNotFound`, saying where it looked and how to get it.
    """
    for source, value in (("the devspec argument", given), ("DEVSPEC", os.environ.get("DEVSPEC"))):
        if value is None or str(value).strip() == "":
            continue
        path = Path(value).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise DevspecNotFound(
            f"{source} names {path}, which is not an executable file", _HOW_TO_GET_IT
        )
    found = shutil.which("devspec")
    if found is None:
        raise DevspecNotFound(
            "the devspec binary is not on PATH (and neither the devspec argument nor DEVSPEC "
            "names one); Study.run needs it to train and estimate",
            _HOW_TO_GET_IT,
        )
    return Path(found)
