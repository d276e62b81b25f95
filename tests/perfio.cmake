# Issue 11 items 1-2: convert moves tensor bytes from the input file, scans read headers only
# (tests/python/test_perfio.py, torch 2.x from the venv); bench/run.py --quick checks that the
# one-command benchmark runs (not how fast anything is).
add_test(NAME py_perfio
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_perfio.py)
set_tests_properties(py_perfio PROPERTIES
  ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1" TIMEOUT 600)

add_test(NAME bench_quick
         COMMAND ${BRINE_PYTHON} ${CMAKE_SOURCE_DIR}/bench/run.py --quick
                 --brine $<TARGET_FILE:brine>)
set_tests_properties(bench_quick PROPERTIES
  ENVIRONMENT "BRINE_VENV_PYTHON=${BRINE_VENV_PYTHON}" TIMEOUT 600)
