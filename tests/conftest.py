"""Shared test helpers: GPU skipping, and NVRTC compilation of CUDA source without a GPU."""
import pytest


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu``-marked tests, saying why, where CuPy sees no CUDA device."""
    from elemgrad_gpu.backends.cuda.backend import status

    count, reason = status()
    if count:
        return
    skip = pytest.mark.skip(reason=f"no CUDA device: {reason}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        return None
    return nvrtc


@pytest.fixture(scope="session")
def compile_ptx():
    """compile_ptx(source, arch, options) -> PTX text, through NVRTC (pip: nvidia-cuda-nvrtc-cu12, cuda-bindings).

    NVRTC needs no GPU and no driver; the suite installs it, so a missing NVRTC fails
    rather than skips.
    """
    nvrtc = _nvrtc()
    assert nvrtc is not None, "install the test extra: pip install '.[test]' (it brings NVRTC)"

    def check(result):
        error, *values = result
        assert error == nvrtc.nvrtcResult.NVRTC_SUCCESS, error
        return values[0] if values else None

    def compile_ptx(source: str, arch: str, options: tuple[str, ...] = ("-std=c++17",)) -> str:
        program = check(nvrtc.nvrtcCreateProgram(source.encode(), b"kernel.cu", 0, [], []))
        options = [f"--gpu-architecture={arch}".encode(), *(o.encode() for o in options)]
        (status,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
        size = check(nvrtc.nvrtcGetProgramLogSize(program))
        log = b" " * size
        check(nvrtc.nvrtcGetProgramLog(program, log))
        if status != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise AssertionError(f"NVRTC failed for {arch}:\n{log.decode(errors='replace')}")
        size = check(nvrtc.nvrtcGetPTXSize(program))
        ptx = b" " * size
        check(nvrtc.nvrtcGetPTX(program, ptx))
        check(nvrtc.nvrtcDestroyProgram(program))
        return ptx.decode(errors="replace")

    return compile_ptx
