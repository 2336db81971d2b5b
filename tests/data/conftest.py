from pathlib import Path

import pytest
import torch


class PlantedCode:
    """Unpickling it creates ``marker``: it stands in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


class CodePlanter:
    """Called with a path, writes a :func:`torch.save` file there whose full
    unpickling runs code; :attr:`ran` says whether any such code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, path: Path) -> None:
        torch.save({"edge_index": PlantedCode(self.marker)}, path)

    @property
    def ran(self) -> bool:
        return self.marker.exists()


@pytest.fixture
def plant_code(tmp_path):
    return CodePlanter(tmp_path / "planted-code-ran")
