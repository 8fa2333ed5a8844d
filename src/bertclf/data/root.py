"""The data root: one folder of data sets that configs name their files in, on any machine.

A config path that starts with `${BERTCLF_DATA}` (`${BERTCLF_DATA}/nsmc/ratings_train.txt`) is
a file under the data root: the folder the environment variable `BERTCLF_DATA` names, else
`data/` in bertclf's cache. It stays written that way in the config (and in a run's saved
config), so the same config works wherever the data sets are; it is resolved here, when read.

A file missing from the root is downloaded there when the config names where it comes from
(`data.sources`, or `data.archive_url` for an archive), with its bytes and speed shown, and
checked against the checksum the config gives; a file with no source is one line naming the
file and the variable. This is the one place that joins config paths to the data root.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

from bertclf.errors import DataError

DATA_ENV = "BERTCLF_DATA"
PREFIX = "${" + DATA_ENV + "}"
_CHECKSUM = re.compile(r"(sha256|md5):([0-9a-f]+)")


def data_root() -> Path:
    """`$BERTCLF_DATA`, else `data/` in bertclf's cache."""
    explicit = os.environ.get(DATA_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from bertclf.cache import cache_root

    return cache_root() / "data"


def under_root(value: str) -> Optional[str]:
    """The part after `${BERTCLF_DATA}/` of a config path, or None for any other path."""
    if value == PREFIX or value.startswith(PREFIX + "/"):
        return value[len(PREFIX):].lstrip("/")
    return None


def shown(value: str) -> str:
    """A config path as it will be read (the data root filled in), for messages; fetches nothing."""
    relative = under_root(value)
    return value if relative is None else str(data_root() / relative)


def resolve(value: str, key: str, sources: Optional[dict] = None) -> Path:
    """The file or folder a config path names, fetching a missing root file from its source.

    Args:
        value: The path as the config holds it.
        key: The config key it came from (for messages), e.g. `data.train_path`.
        sources: `data.sources`: root-relative path -> {url, checksum}.

    Raises:
        DataError: A root file that is missing and has no source, or whose download fails
            or does not match its checksum.
    """
    relative = under_root(value)
    if relative is None:
        return Path(value)
    path = data_root() / relative
    if path.exists():
        return path
    source = (sources or {}).get(relative)
    if source is None:
        raise DataError(f"{key}: {path} not found ({PREFIX} is {data_root()}); set {DATA_ENV} to the folder "
                        f"holding {relative}, or put the file there")
    if isinstance(source, dict):
        url, checksum, member = source["url"], source.get("checksum"), source.get("member")
    else:
        url, checksum, member = source.url, source.checksum, source.member
    if member is None:
        download(url, path, checksum, key)
        return path
    # The archive stays beside the file: its other members (SST-2's dev split) need no second download.
    archive = path.parent / Path(urllib.parse.urlparse(url).path).name
    if not archive.is_file():
        download(url, archive, checksum, key)
    extract_member(archive, member, path, key)
    return path


def extract_member(archive: Path, member: str, path: Path, key: str) -> None:
    """Writes `member` of the zip `archive` to `path`, whole or not at all.

    Raises:
        DataError: The archive is not a zip file or lacks the member.
    """
    import shutil
    import zipfile

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out, zipfile.ZipFile(archive) as bundle:
            try:
                info = bundle.getinfo(member)
            except KeyError:
                names = [name for name in bundle.namelist() if not name.endswith("/")]
                raise DataError(f"{key}: {archive} has no member {member} (it has {', '.join(names[:6])}"
                                f"{', ...' if len(names) > 6 else ''}); fix the member in data.sources") from None
            with bundle.open(info) as source:
                shutil.copyfileobj(source, out, 1 << 20)
        os.replace(temporary, path)
    except zipfile.BadZipFile:
        raise DataError(f"{key}: {archive} is not a zip file; delete it and run again to download it anew") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    print(f"Extracted {member} from {archive.name} into {path}", file=sys.stderr, flush=True)


def download(url: str, path: Path, checksum: Optional[str], key: str) -> None:
    """Downloads `url` to `path` (whole or not at all), showing progress; checks `checksum`.

    Raises:
        DataError: The server refuses, the network fails, or the bytes differ from the checksum.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Downloading {url} into {path} ...", file=sys.stderr, flush=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(temporary, "wb") as out:
                copy_with_progress(response, out, path.name)
        except urllib.error.HTTPError as error:  # the server answered: not a network problem
            raise DataError(f"{key}: could not download {url} (HTTP {error.code} {error.reason})") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise DataError(f"{key}: could not download {url} ({reason}); offline? put the file at {path} "
                            f"(or point {DATA_ENV} at a folder that has it)") from None
        if checksum:
            check(Path(temporary), checksum, f"{key}: {url}")
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def check(path: Path, checksum: str, what: str) -> None:
    """Compares a file with `sha256:<hex>` or `md5:<hex>`.

    Raises:
        DataError: The digests differ.
    """
    algorithm, expected = _CHECKSUM.fullmatch(checksum).groups()
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise DataError(f"{what}: the download's {algorithm} is {digest.hexdigest()}, the config says {expected}; "
                        f"the file changed upstream or the download was damaged (nothing was kept)")


def copy_with_progress(response, out, name: str) -> None:
    """Copies a download to `out`, showing kilobytes done of the total (when the server says it)
    and the speed: an 84 MB archive on a slow line is minutes."""
    from bertclf.progress import Progress

    length = response.headers.get("Content-Length")
    total = int(length) // 1000 if length and str(length).isdigit() else None
    with Progress(f"Downloading {name}", total, "kB") as shown:
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
            shown.advance(len(chunk) // 1000)
