# The format model (issues 7 and 8): polyglots judged by every reading, errors and limits that
# never make a file inert, nested bytes detected like files, unsupported formats unverified,
# dis --member, and scan/inspect agreement on the benign corpora.
add_test(NAME py_format_model
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_format_model.py)
set_tests_properties(py_format_model PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 900)
