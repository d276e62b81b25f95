# brine inspect --compat against the real releases (issue 13 item 4, second part): the torch
# archive version under torch 1.13 and 2.13.
add_test(NAME py_compat_torch
         COMMAND ${BRINE_PYTHON} -m pytest -q -s -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_compat_torch.py)
set_tests_properties(py_compat_torch PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 900)
# the compat prediction on estimators the layout rules were not first written from
add_test(NAME py_compat_independent
         COMMAND ${BRINE_PYTHON} -m pytest -q -s -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_compat_independent.py)
set_tests_properties(py_compat_independent PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 1200)
# --target python: Python 2 names against CPython's own find_class, the protocol per release
add_test(NAME py_compat_python
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_compat_python.py)
set_tests_properties(py_compat_python PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 300)
