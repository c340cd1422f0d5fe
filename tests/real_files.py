"""Place the shared raw files (../shared/datasets) where each loader's download puts them."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import SHARED_DATASETS

from cgl.datasets.planetoid import DGL_PREFIX, PLANETOID_PARTS, planetoid_archive


def place_planetoid(data_dir: Path, name: str) -> Path:
    """`ind.<name>.*` into DGL's folder, renamed as DGL's zip names them (cora -> cora_v2)."""
    folder = data_dir / planetoid_archive(name).folder
    folder.mkdir(parents=True, exist_ok=True)
    for part in PLANETOID_PARTS:
        source = SHARED_DATASETS / "planetoid" / f"ind.{name}.{part}"
        shutil.copyfile(source, folder / f"ind.{DGL_PREFIX[name]}.{part}")
    return folder


def place(data_dir: Path, shared: str, target: str) -> Path:
    """Copy shared/datasets/<shared> to data_dir/<target> (a loader's RawFile path)."""
    path = data_dir / target
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHARED_DATASETS / shared, path)
    return path


def place_all(data_dir: Path) -> Path:
    """Every shared file, in its loader's layout."""
    from cgl.datasets.molecules import AROMATICITY, HIV
    from cgl.datasets.snap import BITCOIN

    place_planetoid(data_dir, "cora")
    place_planetoid(data_dir, "citeseer")
    place(data_dir, "snap/soc-sign-bitcoinotc.csv.gz", BITCOIN.path)
    place(data_dir, "molecules/aromatic_atom_count.csv", AROMATICITY.path)
    place(data_dir, "molecules/HIV.csv", HIV.path)
    return data_dir
