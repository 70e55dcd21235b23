"""Stored plans: a new process reuses what a string expression compiled to, without PyTensor."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = """
import json, sys, numpy as np, elemgrad_gpu as eg
fn = eg.compile(sys.argv[1], orders=tuple(map(int, sys.argv[2].split(","))), dtype=sys.argv[3])
outputs = fn(np.array([-2.0, -0.5, 0.0, 0.75, 3.0]))
outputs = outputs if isinstance(outputs, tuple) else (outputs,)
print(json.dumps({"outputs": [o.tolist() for o in outputs], "dtype": str(outputs[0].dtype),
                  "expressions": list(fn.expressions), "pytensor": "pytensor" in sys.modules}))
"""
X = np.array([-2.0, -0.5, 0.0, 0.75, 3.0])
T = np.tanh(X)
TANH2 = {0: T ** 2, 1: 2 * T * (1 - T ** 2), 2: 2 * (1 - T ** 2) * (1 - 3 * T ** 2)}


def run(cache: Path, text: str = "tanh(x)**2", orders: str = "0,1", dtype: str = "float64") -> tuple[dict, str]:
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={cache}")
    result = subprocess.run([sys.executable, "-c", SCRIPT, text, orders, dtype], env=env, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout), result.stderr


def check_tanh2(result: dict, orders: str, rtol: float = 1e-12) -> None:
    for output, k in zip(result["outputs"], map(int, orders.split(",")), strict=True):
        np.testing.assert_allclose(output, TANH2[k], rtol=rtol, atol=rtol)


def records(cache: Path) -> list[Path]:
    return sorted((cache / "plans").glob("*.json"))


def test_a_new_process_reuses_the_stored_plan_without_importing_pytensor(tmp_path):
    first, _ = run(tmp_path)
    second, _ = run(tmp_path)
    assert first["pytensor"] and not second["pytensor"]
    check_tanh2(second, "0,1")
    assert second["outputs"] == first["outputs"] and second["expressions"] == first["expressions"]
    assert len(records(tmp_path)) == 1


def test_a_stored_plan_serves_only_its_own_request(tmp_path):
    run(tmp_path)
    for orders, dtype in (("1,2", "float64"), ("0,1", "float32")):
        result, _ = run(tmp_path, orders=orders, dtype=dtype)
        assert result["pytensor"] and result["dtype"] == dtype  # a new request is traced
        check_tanh2(result, orders, rtol=1e-12 if dtype == "float64" else 1e-6)
    other, _ = run(tmp_path, text="tanh(x)**3")
    np.testing.assert_allclose(other["outputs"][0], T ** 3, rtol=1e-12)
    assert len(records(tmp_path)) == 4


@pytest.mark.parametrize("damage", ["edited source", "truncated", "not json", "wrong shape"])
def test_a_damaged_stored_plan_is_traced_again_and_rewritten(tmp_path, damage):
    run(tmp_path)
    (path,) = records(tmp_path)
    text = path.read_text()
    record = json.loads(text)
    if damage == "edited source":  # a valid record whose kernel computes something else
        record["body"]["source"] = record["body"]["source"].replace("tanh(", "sinh(")
        path.write_text(json.dumps(record))
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "not json":
        path.write_bytes(b"\0" * 64)
    else:
        path.write_text(json.dumps({"body": [], "sha256": 3}))
    result, stderr = run(tmp_path)
    assert "is damaged" in stderr and result["pytensor"]
    check_tanh2(result, "0,1")
    again, _ = run(tmp_path)
    assert not again["pytensor"] and again["outputs"] == result["outputs"]


def test_generated_sources_of_a_stored_plan_match_a_fresh_trace(tmp_path, monkeypatch):
    script = ("import sys, elemgrad_gpu as eg; fn = eg.compile('exp(-x**2)*sin(x)', orders=(0, 1)); "
              "print(fn.source('c') + '\\0' + fn.source('cuda', dtype='float32') + '\\0' + str('pytensor' in sys.modules))")
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={tmp_path}")
    outputs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
               for _ in range(2)]
    assert outputs[0] == outputs[1]
    assert "double" in outputs[0].split("\0")[0] and "eg_contiguous" in outputs[0].split("\0")[1]
