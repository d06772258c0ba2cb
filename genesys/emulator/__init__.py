"""A faithful Genesys Cloud emulator (login, platform API, pre-signed "S3") with a deterministic dataset."""

from __future__ import annotations

from .data import Dataset, SimConversation, SimPhrase, SimTranscript, generate_dataset
from .faults import FAULT_PROFILES, FaultProfile
from .server import Emulator, EmulatorStats

__all__ = [
    "FAULT_PROFILES",
    "Dataset",
    "Emulator",
    "EmulatorStats",
    "FaultProfile",
    "SimConversation",
    "SimPhrase",
    "SimTranscript",
    "generate_dataset",
]
