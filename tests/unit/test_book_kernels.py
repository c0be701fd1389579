"""The book's notebooks run side by side, each with its own kernel: the kernels must never be handed the same
channel. Over TCP they could (jupyter_client releases a free port before the kernel binds it; CI once lost the
whole smoke book to "Address already in use"), so each talks over Unix sockets in a directory of its own."""

import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import nbformat
import pytest

from crosslingual.render import build

KERNELS_AT_ONCE = 4


def test_a_kernel_s_sockets_live_in_the_directory_it_is_given(tmp_path):
    config = build.kernel_config(str(tmp_path))
    assert config.KernelManager.transport == "ipc"
    assert config.KernelManager.ip == str(tmp_path / "kernel")


def test_a_socket_path_too_long_for_sun_path_falls_back_to_tcp(tmp_path):
    assert build.kernel_config("/" + "d" * 120) is None


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets")
def test_kernels_started_at_once_get_distinct_sockets_and_leave_nothing_behind(tmp_path):
    source = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from ipykernel import get_connection_info; print(get_connection_info())")])
    source.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(source, tmp_path / "probe.ipynb")
    outs = [tmp_path / f"out{i}.ipynb" for i in range(KERNELS_AT_ONCE)]
    with ProcessPoolExecutor(KERNELS_AT_ONCE, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(build._execute_one, str(tmp_path / "probe.ipynb"), str(out), str(tmp_path), {},
                               str(tmp_path / "usage"), str(tmp_path / "claims")) for out in outs]
        for fut in futures:
            fut.result()
    infos = [json.loads(nbformat.read(out, as_version=4).cells[0].outputs[0]["text"]) for out in outs]
    assert {info["transport"] for info in infos} == {"ipc"}
    prefixes = [Path(info["ip"]) for info in infos]
    assert len({p.parent for p in prefixes}) == KERNELS_AT_ONCE, "two kernels shared a socket directory"
    assert not any(p.parent.exists() for p in prefixes), "a kernel's socket directory outlived its notebook"
    assert not list(tmp_path.glob("kernel-*")), "sockets were left in the notebooks' working directory"
