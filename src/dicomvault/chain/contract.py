"""The anchor registry contract: its Vyper source and the ABI/bytecode compiled from it.

The source (``contracts/AnchorRegistry.vy``) is compiled by the Vyper
compiler installed from PyPI (pinned in ``pyproject.toml``), never one
downloaded at run time. ``python -m dicomvault.chain.contract`` writes the
result to ``contracts/AnchorRegistry.json``, which a node ships and deploys
from, so production needs no compiler; ``tests/chain/test_contract.py``
recompiles the source and checks the shipped artefact is exactly its output.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

#: The compiler version the shipped artefact was produced with (and tests recompile with).
VYPER_VERSION = "0.4.3"
_CONTRACTS = files("dicomvault.chain").joinpath("contracts")
_SOURCE = "AnchorRegistry.vy"
_ARTEFACT = "AnchorRegistry.json"


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """What deploying and calling the contract needs, and where it came from."""

    abi: list[dict[str, Any]]
    bytecode: str
    compiler: str
    source_sha256: str

    def to_json(self) -> str:
        return json.dumps({"compiler": self.compiler, "source_sha256": self.source_sha256,
                           "abi": self.abi, "bytecode": self.bytecode}, indent=1,
                          sort_keys=True) + "\n"


def registry_source() -> str:
    """The Vyper source of the anchor registry."""
    return _CONTRACTS.joinpath(_SOURCE).read_text(encoding="utf-8")


def load_registry() -> CompiledContract:
    """The shipped ABI and bytecode (no compiler needed)."""
    value = json.loads(_CONTRACTS.joinpath(_ARTEFACT).read_text(encoding="utf-8"))
    return CompiledContract(abi=value["abi"], bytecode=value["bytecode"],
                            compiler=value["compiler"], source_sha256=value["source_sha256"])


def compile_registry() -> CompiledContract:
    """Compile the source with the installed Vyper (the ``test`` / ``chain`` extra)."""
    import vyper

    source = registry_source()
    output = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    return CompiledContract(abi=list(output["abi"]), bytecode=str(output["bytecode"]),
                            compiler=f"vyper {vyper.__version__}",
                            source_sha256=hashlib.sha256(source.encode("utf-8")).hexdigest())


def main() -> None:
    """Regenerate the shipped artefact beside the source (run after editing the contract)."""
    compiled = compile_registry()
    target = Path(str(_CONTRACTS.joinpath(_ARTEFACT)))
    target.write_text(compiled.to_json(), encoding="utf-8")
    print(f"wrote {target} ({compiled.compiler}, {len(compiled.bytecode) // 2 - 1} bytes)")


if __name__ == "__main__":
    main()
