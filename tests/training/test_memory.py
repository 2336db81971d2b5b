import subprocess
import sys

from mde_pyg.training import keep_freed_memory


def test_keep_freed_memory_applies_on_glibc_and_is_harmless_elsewhere():
    # glibc's mallopt accepts both settings on Linux; elsewhere nothing runs.
    assert keep_freed_memory() is sys.platform.startswith("linux")
    # Applied twice, and training afterwards, nothing breaks.
    probe = (
        "from mde_pyg.training import keep_freed_memory\n"
        "import torch\n"
        "keep_freed_memory(); keep_freed_memory()\n"
        "x = torch.randn(2048, 2048); print(float((x @ x.t()).trace()) > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
