# Policy tests (issue 7 items 3-4): hostile fixtures from tests/gen/gen_hostile_policy.py, the
# benign corpus under every profile, numpy 2's dtype classes, and the gadget walk over the real
# numpy/torch/sklearn/joblib/scipy (tools/gadget_walk.py; its runtime is ~40-60 s on an idle
# machine, most of it parsing torch and scipy).
foreach(t policy_hostile policy_benign policy_gadgets)
  add_test(NAME py_${t}
           COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_${t}.py)
  set_tests_properties(py_${t} PROPERTIES
                       ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1;BRINE_VENV_PYTHON=${BRINE_VENV_PYTHON}"
                       TIMEOUT 900)
endforeach()
