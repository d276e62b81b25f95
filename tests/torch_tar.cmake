# The oldest PyTorch format (tar), scanned as torch's legacy_load reads it.
add_test(NAME py_torch_tar
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_torch_tar.py)
set_tests_properties(py_torch_tar PROPERTIES ENVIRONMENT "BRINE=$<TARGET_FILE:brine>")
