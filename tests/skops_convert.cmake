# brine convert IN OUT.skops (issue 13 item 2): converted archives load with the real skops
# (project venv) and predict exactly what the pickled estimator predicted.
add_test(NAME py_skops_convert
         COMMAND ${BRINE_PYTHON} -m pytest -q -s -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_skops_convert.py)
set_tests_properties(py_skops_convert PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1;BRINE_VENV_PYTHON=${BRINE_VENV_PYTHON}"
                     TIMEOUT 900)
