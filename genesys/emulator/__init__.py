"""A faithful Genesys Cloud emulator (login, platform API, pre-signed "S3") with a deterministic dataset.

Variants (variants.py) make it disagree with our client the way real orgs do: a `DatasetShape` for what the
calls look like (`generate_dataset(..., shape=)`) and an `OrgBehaviour` for how the API answers
(`Emulator(..., behaviour=)`), combined in the named `VARIANTS` registry.
"""

from __future__ import annotations

from .behaviour import OrgBehaviour
from .data import Dataset, SimConversation, SimPart, SimPhrase, SimRecording, SimTranscript, generate_dataset
from .faults import FAULT_PROFILES, FaultProfile
from .server import Emulator, EmulatorStats
from .shape import DatasetShape
from .variants import VARIANTS, Variant, get_variant

__all__ = [
    "FAULT_PROFILES",
    "VARIANTS",
    "Dataset",
    "DatasetShape",
    "Emulator",
    "EmulatorStats",
    "FaultProfile",
    "OrgBehaviour",
    "SimConversation",
    "SimPart",
    "SimPhrase",
    "SimRecording",
    "SimTranscript",
    "Variant",
    "generate_dataset",
    "get_variant",
]
