"""The worker Lambda's code: one zip of relaystate, its pure-Python dependencies, the examples and
the e2e worker module.

The Lambda runtime brings boto3 (with botocore and what they need); the zip brings the rest of
the Lambda path's dependencies, attrs and transitions, with what they need in turn (six), read
from the installed distributions' metadata. relaystate comes from this checkout, with a minimal
``dist-info`` so that ``relaystate.__version__`` reads as it does when installed. The zip is the
same bytes for the same files (fixed timestamps, sorted members): Lambda's ``CodeSha256`` then
says whether the code changed.

Example:
    >>> sorted(d.metadata["Name"] for d in dependencies())
    ['attrs', 'six', 'transitions']
"""

from __future__ import annotations

import importlib.metadata
import io
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.requirements import Requirement

import relaystate

__all__ = ["HANDLER", "PACKAGED", "REPO", "build", "dependencies", "members"]

#: The worker's handler, as Lambda names it.
HANDLER = "tests.e2e.jobs.handler"
#: The Lambda path's dependencies besides boto3 (which the runtime has).
PACKAGED = ("attrs", "transitions")
#: The checkout the code comes from.
REPO = Path(relaystate.__file__).resolve().parent.parent
#: The e2e worker and the packages it sits in.
WORKER_FILES = ("tests/__init__.py", "tests/e2e/__init__.py", "tests/e2e/jobs.py")
#: Zip timestamps: the earliest a zip can hold, so that the same files make the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def dependencies(names: Iterable[str] = PACKAGED) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``names`` and everything they require (extras left out)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return [found[key] for key in sorted(found)]


def members(repo: Path = REPO) -> Iterator[tuple[str, bytes]]:
    """Every file of the zip as ``(name in the zip, content)``."""
    package = repo / "relaystate"
    for path in sorted(package.rglob("*")):
        if path.is_file() and _kept(path.relative_to(repo)):
            yield path.relative_to(repo).as_posix(), path.read_bytes()
    version = importlib.metadata.version("relaystate")
    metadata = f"Metadata-Version: 2.1\nName: relaystate\nVersion: {version}\n"
    yield f"relaystate-{version}.dist-info/METADATA", metadata.encode()
    for dist in dependencies():
        for file in dist.files or ():
            if _kept(Path(file)) and not file.as_posix().startswith(".."):
                yield file.as_posix(), Path(str(dist.locate_file(file))).read_bytes()
    for path in sorted((repo / "examples").glob("*.py")):
        yield f"examples/{path.name}", path.read_bytes()
    for name in WORKER_FILES:
        yield name, (repo / name).read_bytes()


def _kept(path: Path) -> bool:
    """Source and metadata; no bytecode (Lambda compiles what it imports)."""
    return "__pycache__" not in path.parts and path.suffix != ".pyc"


def build(repo: Path = REPO) -> bytes:
    """The zip, as bytes (``CreateFunction``'s ``ZipFile``).

    Raises:
        ValueError: two members with one name.
    """
    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(members(repo)):
            if name in seen:
                raise ValueError(f"{name} twice in the worker's zip")
            seen.add(name)
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16  # readable by Lambda's user
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()
