"""Place the raw files of real datasets (the `shared_datasets` fixture's folder) where each
loader's download puts them."""

from __future__ import annotations

import shutil
from pathlib import Path

from cgl.datasets.planetoid import DGL_PREFIX, PLANETOID_PARTS, planetoid_archive


def place_planetoid(shared: Path, data_dir: Path, name: str) -> Path:
    """`ind.<name>.*` into DGL's folder, renamed as DGL's zip names them (cora -> cora_v2)."""
    folder = data_dir / planetoid_archive(name).folder
    folder.mkdir(parents=True, exist_ok=True)
    for part in PLANETOID_PARTS:
        source = shared / "planetoid" / f"ind.{name}.{part}"
        shutil.copyfile(source, folder / f"ind.{DGL_PREFIX[name]}.{part}")
    return folder


def place(shared: Path, data_dir: Path, source: str, target: str) -> Path:
    """Copy shared/<source> to data_dir/<target> (a loader's RawFile path)."""
    path = data_dir / target
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared / source, path)
    return path


def place_all(shared: Path, data_dir: Path) -> Path:
    """Every shared file, in its loader's layout."""
    from cgl.datasets.molecules import AROMATICITY, HIV
    from cgl.datasets.snap import BITCOIN

    place_planetoid(shared, data_dir, "cora")
    place_planetoid(shared, data_dir, "citeseer")
    place(shared, data_dir, "snap/soc-sign-bitcoinotc.csv.gz", BITCOIN.path)
    place(shared, data_dir, "molecules/aromatic_atom_count.csv", AROMATICITY.path)
    place(shared, data_dir, "molecules/HIV.csv", HIV.path)
    return data_dir
