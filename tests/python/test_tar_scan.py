"""`brine scan` on tars (issue 8): the old PyTorch tar format only when the members say so (a
tar of config.json or evil.pkl is a plain `tar`, never `pytorch-tar`), and every member of a
plain tar is judged: these fixtures each hold a payload or a path that escapes the folder."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "gen", "gen_archives.py")
BRINE = os.environ.get("BRINE")

pytestmark = pytest.mark.skipif(not BRINE, reason="BRINE (path of the brine binary) not set")


@pytest.fixture(scope="module")
def corpus():
    with tempfile.TemporaryDirectory(prefix="brine-tar-scan-") as tmp:
        out = os.path.join(tmp, "a")
        marker = os.path.join(tmp, "MARKER")
        subprocess.run([sys.executable, GEN, out, marker], check=True)
        yield out
        assert not os.path.exists(marker), "a payload ran"


def scan(path):
    r = subprocess.run([BRINE, "scan", "--format", "json", path], capture_output=True)
    assert r.returncode in (0, 1), r.stderr.decode()
    return r.returncode, json.loads(r.stdout)["files"][0]


@pytest.mark.parametrize("name", ["y_ustar_basic.tar", "y_pax_evil.tar", "y_gnu_evil.tar",
                                  "y_dotdot.tar", "y_gnutar_posix.tar", "y_bsdtar_pax.tar"])
def test_plain_tar_is_not_a_checkpoint_and_not_safe(corpus, name):
    path = os.path.join(corpus, name)
    if not os.path.exists(path):
        pytest.skip("tool missing")
    rc, f = scan(path)
    assert f["format"] == "tar", f
    assert f["verdict"] != "safe" and rc == 1, f


def test_torch_member_names_make_a_torch_tar(corpus):
    rc, f = scan(os.path.join(corpus, "y_torch_names.tar"))
    assert f["format"] == "pytorch-tar" and f["verdict"] in ("invalid", "unsafe"), f


def test_readerror_is_named(corpus, tmp_path):
    """A torch tar that tarfile cannot list: torch.load falls back to pickle.load."""
    with open(os.path.join(corpus, "y_torch_names.tar"), "rb") as f:
        data = f.read()
    p = tmp_path / "cut.tar"
    p.write_bytes(data[:512 + 300])  # inside the first member's data
    rc, f = scan(str(p))
    assert f["format"] == "pytorch-tar" and f["verdict"] == "invalid", f
    assert any("ReadError" in x["message"] for x in f["findings"]), f


def test_hard_link_member_is_judged_through_its_target(corpus):
    """`storages` as a hard link to a pickle elsewhere in the archive: tarfile's extract copies
    the target's bytes (_find_link_target), so torch unpickles them — brine must name it."""
    rc, f = scan(os.path.join(corpus, "y_links.tar"))
    assert f["format"] == "pytorch-tar" and f["verdict"] == "unsafe", f
    assert any(x.get("global") == "posix.system" and x.get("member") == "storages"
               for x in f["findings"]), f
    assert any("hard link" in x["message"] for x in f["findings"]), f
