"""Convert copies tensor bytes from the input file (copy_file_range, else pread) and a scan
reads only headers (issue 11 items 1-2). Checkpoints written by the venv's torch 2.x; the
conversion is checked against torch.load(weights_only=True) of the same benign file through
the safetensors library; the bytes a cold scan reads come from the kernel's count."""

import json
import os
import subprocess

import pytest

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")

BRINE = os.environ["BRINE"]


def checkpoint(path, mib, n):
    g = torch.Generator().manual_seed(n)
    sd = {f"w{i}": torch.rand(mib * (1 << 18) // n, generator=g) for i in range(n)}
    base = torch.arange(4096, dtype=torch.float64)
    sd["shared_a"] = base[:1000]  # views of one storage
    sd["shared_b"] = base[1000:3000]
    sd["transposed"] = torch.arange(600, dtype=torch.int32).reshape(20, 30).t()  # strided
    sd["half"] = torch.rand(70000, generator=g).half()
    torch.save(sd, path)
    return sd


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def convert(src, out, *extra):
    r = subprocess.run([BRINE, "convert", "--force", *extra, src, out], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def same(a, b):
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
    assert torch.equal(a.contiguous(), b)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("perfio")
    path = str(d / "model.pt")
    checkpoint(path, 24, 48)
    return d, path, torch.load(path, weights_only=True)


@pytest.mark.parametrize("flags", [(), ("--no-sync",)])
def test_convert_matches_torch(big, flags):
    d, path, ref = big
    out = str(d / "out.safetensors")
    convert(path, out, *flags)
    got = st_torch.load_file(out)
    assert set(got) == set(ref)
    for k in ref:
        same(ref[k], got[k])


def test_convert_cold_input(big):
    d, path, ref = big
    out = str(d / "cold.safetensors")
    evict(path)
    convert(path, out, "--no-sync")
    got = st_torch.load_file(out)
    for k in ref:
        same(ref[k], got[k])


def test_convert_across_file_systems(big):
    """copy_file_range between two file systems may be refused (EXDEV): the pread path."""
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(big[0]).st_dev:
        pytest.skip("no second file system")
    d, path, ref = big
    out = os.path.join("/dev/shm", f"brine-perfio-{os.getpid()}.safetensors")
    try:
        convert(path, out, "--no-sync")
        got = st_torch.load_file(out)
        for k in ref:
            same(ref[k], got[k])
    finally:
        for f in (out, out.replace(".safetensors", ".config.json")):
            if os.path.exists(f):
                os.unlink(f)


def run_counted(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    p.stderr.close()
    return os.waitstatus_to_exitcode(status), ru.ru_inblock * 512


def test_cold_scan_reads_headers_only(big):
    """24 MiB of tensors: a cold scan reads the directory, local headers and data.pkl."""
    d, path, _ = big
    for cmd in ([BRINE, "scan", path], [BRINE, "inspect", path]):
        evict(path)
        rc, read = run_counted(cmd)
        assert rc == 0
        if read == 0:
            pytest.skip("this file system does not count reads (ru_inblock is 0)")
        assert read < 1 << 20, f"{cmd[1]} read {read} bytes of a {os.path.getsize(path)}-byte file"


def test_large_joblib_file_still_read_as_joblib(tmp_path):
    """The joblib-wrapper search covers only the opcodes joblib.load reads: a file with MiBs of
    pickle before its first array is still read as joblib (the arrays found, not misread as
    opcodes)."""
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    path = str(tmp_path / "big.joblib")
    joblib.dump({"pad": list(range(300000)), "arr": np.arange(400000), "b": np.ones(10)}, path)
    assert os.path.getsize(path) > 2 << 20
    r = subprocess.run([BRINE, "scan", "--format", "json", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    f = json.loads(r.stdout)["files"][0]
    assert f["format"] == "joblib" and f["verdict"] == "safe"
    assert {t["name"] for t in f["tensors"]} == {"arr", "b"}
