"""Regions of the model and the distances between them.

Beijing, Tianjin and Hebei are simulated with agents; Xiong'an New Area is a zone inside Hebei
(its Zhongguancun Science Park is tracked); the Rest of China is one aggregate trading partner.
Distances are great-circle distances between the city coordinates in ``data/inputs.toml``.
"""

from __future__ import annotations

import numpy as np

from model.inputs import load_inputs

REGIONS: tuple[str, ...] = ("Beijing", "Tianjin", "Hebei")  # regions with agents
ROC = "Rest of China"
XIONGAN = "Xiong'an"
FLOW_REGIONS: tuple[str, ...] = REGIONS + (ROC,)  # origins/destinations of contract flows
OUTPUT_REGIONS: tuple[str, ...] = REGIONS + (XIONGAN, ROC)  # regions in the output tables
BJ, TJ, HB, RC = 0, 1, 2, 3

SECTORS: tuple[str, ...] = (
    "next-generation IT",
    "artificial intelligence",
    "medical care",
    "intelligent manufacturing",
    "intelligent connected vehicles",
    "hydrogen metallurgy",
)
ICV = SECTORS.index("intelligent connected vehicles")

# Sector mix of each region's firms and labs: an assumption (no source splits firms by sector).
# Beijing leans to IT, AI and medical care (seed 2: trillion-yuan clusters in "next-generation IT,
# sci-tech services, and medical care"); Tianjin to manufacturing and vehicles ("Tianjin's
# manufacturing prowess"); Hebei to manufacturing and hydrogen metallurgy (seed 1: "globe-leading
# hydrogen metallurgy projects by HBIS Group").
SECTOR_MIX = np.array(
    [
        [0.30, 0.25, 0.20, 0.10, 0.10, 0.05],  # Beijing
        [0.15, 0.10, 0.15, 0.30, 0.20, 0.10],  # Tianjin
        [0.15, 0.10, 0.15, 0.25, 0.15, 0.20],  # Hebei
    ]
)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km on a sphere of radius 6,371 km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return float(2 * 6371.0 * np.arcsin(np.sqrt(a)))


def distance_matrix() -> np.ndarray:
    """4x4 distances in km between Beijing, Tianjin, Hebei and the Rest of China."""
    data = load_inputs()
    coords = data["coordinates"]
    d = np.zeros((4, 4))
    for i, a in enumerate(REGIONS):
        for j, b in enumerate(REGIONS):
            if i == j:
                d[i, j] = data["within_region_km"][a]
            else:
                d[i, j] = haversine_km(coords[a]["lat"], coords[a]["lon"], coords[b]["lat"], coords[b]["lon"])
    roc = float(data["rest_of_china_km"]["value"])
    d[RC, :] = d[:, RC] = roc
    return d


def park_distance_km() -> np.ndarray:
    """Distance in km from Beijing, Tianjin and Hebei to the Xiong'an Zhongguancun Science Park
    (Hebei's own firms: the within-Hebei distance)."""
    data = load_inputs()
    c = data["coordinates"]
    xa = c["Xiong'an"]
    return np.array([haversine_km(c[r]["lat"], c[r]["lon"], xa["lat"], xa["lon"]) if r != "Hebei"
                     else data["within_region_km"]["Hebei"] for r in REGIONS])
