import subprocess
import sys

import pytest

from mde_pyg.training import keep_freed_memory


def test_keep_freed_memory_applies_on_glibc_and_is_harmless_elsewhere():
    # glibc's mallopt accepts both settings on Linux; elsewhere nothing runs.
    assert keep_freed_memory() is sys.platform.startswith("linux")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc, /proc")
def test_keep_freed_memory_keeps_a_freed_buffer_in_the_process():
    # A freed 64 MiB tensor goes back to the OS by default (glibc mmaps
    # blocks above 32 MiB whatever its dynamic threshold); once the settings
    # are applied (twice: idempotent) the process keeps it for the next step.
    probe = (
        "import os, torch\n"
        "from mde_pyg.training import keep_freed_memory\n"
        "def rss():\n"
        "    with open('/proc/self/statm') as f:\n"
        "        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "def freed_mib():\n"
        "    x = torch.ones(64 << 18)\n"
        "    before = rss()\n"
        "    del x\n"
        "    return (before - rss()) / 2**20\n"
        "default = freed_mib()\n"
        "keep_freed_memory(); keep_freed_memory()\n"
        "print(default, freed_mib())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    default, kept = map(float, done.stdout.split())
    assert default > 48, f"default: {default:.1f} MiB returned to the OS"
    assert kept < 16, f"kept: {kept:.1f} MiB returned to the OS"
