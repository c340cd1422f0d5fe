"""Molecules as graphs (GC): SMILES -> RDKit -> one DGL graph per molecule.

Atoms are nodes and bonds are edges in both directions. Atom features are the one-hot
encoding of OGB's nine categorical atom descriptors (atomic number, chirality, degree, formal
charge, hydrogens, radical electrons, hybridisation, aromaticity, ring membership; a last
"other" slot per descriptor), bond features those of bond type, stereo and conjugation. A
SMILES that RDKit rejects on valence is read without the valence check (7 HIV molecules with
current RDKit); one it cannot read at all is left out, with a warning.

Datasets: Aromaticity (Task/Class-IL on the count of aromatic atoms) and MoleculeNet HIV
(Domain-IL on scaffold-derived domains, ROC-AUC); ogbg-molhiv reuses the HIV path (ogb.py).
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Sequence

import dgl
import numpy as np
import pandas as pd
import torch

from cgl.config.errors import DatasetUnavailableError
from cgl.datasets.base import ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import RawFile, fetch
from cgl.datasets.structure import degree_features

log = logging.getLogger(__name__)

AROMATICITY = RawFile(
    url="https://raw.githubusercontent.com/OpenDrugAI/AttentiveFP/master/data/aromatic_atom_count.csv",
    path="molecules/aromatic_atom_count.csv",
    sha256="e119a5421692406ac152d7254cf76ffaeb18019fd8be01fe5aec663422146f95",
)
HIV = RawFile(
    url="https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/HIV.csv",
    path="molecules/HIV.csv",
    sha256="9ffa7fe57dc86c342627ee1d5255e937e2ab812393c73c4d16c697022f6e1d22",
)
#: BeGin's Aromaticity benchmark: the 30 most frequent aromatic-atom counts are the classes.
AROMATICITY_CLASSES = 30
#: Categories of each atom descriptor (values outside a list go to its extra "other" slot).
ATOM_VOCAB = {
    "atomic_num": list(range(1, 119)),
    # RDKit's ChiralType codes: unspecified, tetrahedral clockwise, counter-clockwise, other
    "chirality": [0, 1, 2, 3],
    "degree": list(range(11)),
    "formal_charge": list(range(-5, 6)),
    "num_hs": list(range(9)),
    "radical_electrons": list(range(5)),
    "hybridization": ["SP", "SP2", "SP3", "SP3D", "SP3D2"],
    "aromatic": [False, True],
    "in_ring": [False, True],
}
BOND_VOCAB = {
    "type": ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"],
    "stereo": ["STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"],
    "conjugated": [False, True],
}


@functools.cache
def require_rdkit():
    """RDKit's Chem module, or a clear message on how to install it."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise DatasetUnavailableError(
            "Molecule datasets need RDKit to turn SMILES into graphs: pip install 'cgl[chem]' "
            "(or pip install rdkit)."
        ) from None
    RDLogger.DisableLog("rdApp.*")
    return Chem


def parse_smiles(smiles: str):
    """An RDKit molecule, read without the valence check if the strict reading fails."""
    chem = require_rdkit()
    mol = chem.MolFromSmiles(smiles)
    if mol is None:
        mol = chem.MolFromSmiles(smiles, sanitize=False)
        if mol is not None:
            mol.UpdatePropertyCache(strict=False)
            flags = chem.SanitizeFlags.SANITIZE_ALL ^ chem.SanitizeFlags.SANITIZE_PROPERTIES
            chem.SanitizeMol(mol, flags, catchErrors=True)
    return mol


#: value -> position, per descriptor (a value not listed maps to the "other" slot).
ATOM_INDEX = [{v: i for i, v in enumerate(vocab)} for vocab in ATOM_VOCAB.values()]
BOND_INDEX = [{v: i for i, v in enumerate(vocab)} for vocab in BOND_VOCAB.values()]


def _codes(index: list[dict], values: tuple) -> list[int]:
    return [lookup.get(v, len(lookup)) for lookup, v in zip(index, values, strict=True)]


def _atom_codes(atom) -> list[int]:
    values = (
        atom.GetAtomicNum(),
        int(atom.GetChiralTag()),
        atom.GetTotalDegree(),
        atom.GetFormalCharge(),
        atom.GetTotalNumHs(),
        atom.GetNumRadicalElectrons(),
        str(atom.GetHybridization()),
        atom.GetIsAromatic(),
        atom.IsInRing(),
    )
    return _codes(ATOM_INDEX, values)


def _bond_codes(bond) -> list[int]:
    values = (str(bond.GetBondType()), str(bond.GetStereo()), bond.GetIsConjugated())
    return _codes(BOND_INDEX, values)


def one_hot(codes: np.ndarray, vocabs: Sequence[list]) -> torch.Tensor:
    """Concatenated one-hot blocks, one per column of `codes` (each with an "other" slot)."""
    sizes = np.array([len(v) + 1 for v in vocabs])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = np.zeros((codes.shape[0], sizes.sum()), dtype=np.float32)
    rows = np.repeat(np.arange(codes.shape[0]), codes.shape[1])
    out[rows, (codes + offsets).ravel()] = 1.0
    return torch.from_numpy(out)


def molecule_graphs(mols: list) -> list[dgl.DGLGraph]:
    """One graph per molecule, built as a single batch and split (faster than one by one)."""
    atoms, bonds, src, dst, sizes, bond_counts, offset = [], [], [], [], [], [], 0
    for mol in mols:
        atoms += [_atom_codes(a) for a in mol.GetAtoms()]
        for bond in mol.GetBonds():
            u, v = bond.GetBeginAtomIdx() + offset, bond.GetEndAtomIdx() + offset
            src += [u, v]
            dst += [v, u]
            bonds += [_bond_codes(bond)] * 2
        sizes.append(mol.GetNumAtoms())
        bond_counts.append(2 * mol.GetNumBonds())
        offset += mol.GetNumAtoms()
    batch = dgl.graph(
        (torch.tensor(src, dtype=torch.long), torch.tensor(dst, dtype=torch.long)), num_nodes=offset
    )
    batch.ndata["feat"] = one_hot(np.array(atoms, dtype=np.int64), list(ATOM_VOCAB.values()))
    bond_codes = np.array(bonds, dtype=np.int64).reshape(-1, len(BOND_VOCAB))
    batch.edata["feat"] = one_hot(bond_codes, list(BOND_VOCAB.values()))
    batch.set_batch_num_nodes(torch.tensor(sizes))
    batch.set_batch_num_edges(torch.tensor(bond_counts))
    return dgl.unbatch(batch)


def parse_all(smiles: Sequence[str]) -> tuple[list, np.ndarray]:
    """Molecules RDKit can read and the positions (in `smiles`) they came from."""
    mols = [parse_smiles(s) for s in smiles]
    kept = np.array([i for i, m in enumerate(mols) if m is not None and m.GetNumAtoms() > 0])
    if len(kept) < len(mols):
        log.warning("left out %d SMILES that RDKit cannot read", len(mols) - len(kept))
    return [mols[i] for i in kept], kept


def scaffold_domains(mols: list, num_domains: int) -> np.ndarray:
    """Domain of each molecule from its Bemis-Murcko scaffold (the scaffold-split procedure).

    Molecules are grouped by scaffold SMILES; groups are ordered largest first (ties by
    scaffold SMILES) and dealt out in that order into `num_domains` consecutive domains of
    about equal size: a domain is closed once it holds its share, and a scaffold group is never
    split. So every domain holds whole scaffold families and different domains hold different
    chemistry: domain 0 the most common scaffolds (including acyclic molecules, scaffold ""),
    the last ones the rarest.
    """
    from rdkit.Chem.Scaffolds import MurckoScaffold

    groups: dict[str, list[int]] = defaultdict(list)
    for i, mol in enumerate(mols):
        try:
            scaffold = MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)
        except (ValueError, RuntimeError):  # a molecule read without the valence check
            scaffold = ""
        groups[scaffold].append(i)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if len(ordered) < num_domains:
        raise ValueError(f"{len(ordered)} scaffolds cannot make {num_domains} domains")
    domains = np.empty(len(mols), dtype=np.int64)
    share, filled, domain = len(mols) / num_domains, 0, 0
    for rank, (_, members) in enumerate(ordered):
        domains[members] = domain
        filled += len(members)
        groups_left, domains_left = len(ordered) - rank - 1, num_domains - domain - 1
        if domain < num_domains - 1 and (
            filled >= share * (domain + 1) or groups_left == domains_left
        ):
            domain += 1
    return domains


def parse_aromaticity(table: pd.DataFrame) -> ContinualData:
    """Classes are the AROMATICITY_CLASSES most frequent aromatic-atom counts (ties: the
    smaller count), numbered in increasing count, so a task holds neighbouring counts; other
    molecules get label -1. Node features are atom degrees only, as in BeGin: the atom
    descriptors would give the count away (it is the number of aromatic atoms)."""
    mols, kept = parse_all(table["cano_smiles"].tolist())
    counts = table["aromatic_count"].to_numpy()[kept]
    frequency = pd.Series(counts).value_counts()
    top = sorted(
        frequency.sort_index(kind="stable")
        .sort_values(ascending=False, kind="stable")
        .index[:AROMATICITY_CLASSES]
    )
    label = np.full(len(counts), -1, dtype=np.int64)
    for cls, count in enumerate(top):
        label[counts == count] = cls
    graphs = molecule_graphs(mols)
    for graph in graphs:
        graph.ndata["feat"] = degree_features(graph)
        del graph.edata["feat"]
    return ContinualData(
        name="aromaticity",
        level="gc",
        num_classes=len(top),
        label=torch.from_numpy(label),
        graphs=graphs,
    )


def load_aromaticity(data_dir: str) -> ContinualData:
    """PubChem BioAssay aromaticity set (Xiong et al. 2019, AttentiveFP)."""

    def build() -> ContinualData:
        return parse_aromaticity(pd.read_csv(fetch(data_dir, AROMATICITY, "aromaticity")))

    return cached(data_dir, "aromaticity", version=1, build=build)


def active_molecules(name: str, table: pd.DataFrame, num_domains: int) -> ContinualData:
    """Binary HIV activity per molecule (ROC-AUC) from a `smiles`/`HIV_active` table, with
    scaffold-derived domains."""
    mols, kept = parse_all(table["smiles"].tolist())
    return ContinualData(
        name=name,
        level="gc",
        num_classes=2,
        label=torch.tensor(table["HIV_active"].to_numpy(dtype=np.int64)[kept]),
        graphs=molecule_graphs(mols),
        domain=torch.from_numpy(scaffold_domains(mols, num_domains)),
    )


def load_hiv(
    data_dir: str, num_domains: int = 20, max_molecules: int | None = None
) -> ContinualData:
    """MoleculeNet HIV (Wu et al. 2018): the molecule set behind ogbg-molhiv, as a CSV.

    `max_molecules` keeps the file's first molecules only, for quick runs: turning all 41,127
    into graphs takes minutes on a small machine (once; the cache is reused).
    """

    def build() -> ContinualData:
        table = pd.read_csv(fetch(data_dir, HIV, "hiv"), nrows=max_molecules)
        return active_molecules("hiv", table, num_domains)

    key = f"hiv-{num_domains}domains-{max_molecules or 'all'}"
    return cached(data_dir, key, version=1, build=build)
