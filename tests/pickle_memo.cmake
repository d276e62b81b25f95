# The pickle memo's dense array and sparse map against both real unpicklers (issue 11 item 3).
add_test(NAME py_pickle_memo
         COMMAND ${BRINE_PYTHON} -m pytest -q -s -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_pickle_memo.py)
set_tests_properties(py_pickle_memo PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 600)
