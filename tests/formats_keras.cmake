# Keras .h5 / .keras and skops files (issue 12 parts 1, 2 and 5): fixtures written by the real
# keras 3.15 (torch backend), h5py and skops 0.16 of the venv (tests/gen/gen_keras.py,
# gen_skops.py), hostile ones edited from them and never loaded; brine's verdicts, findings
# and tensor hashes compared with the libraries' own reading.
add_test(NAME py_formats_keras
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_keras.py)
set_tests_properties(py_formats_keras PROPERTIES
  ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;KERAS_BACKEND=torch;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 900)
add_test(NAME py_formats_skops
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_skops.py)
set_tests_properties(py_formats_skops PROPERTIES
  ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 900)

# Allocation-failure injection (tests/hardening.cmake's test_alloc_fail) on a Keras .h5 and a
# .keras with a Lambda: every failure point returns cleanly. Not on a skops archive: its
# schema's escaped strings make jansson 2.14 abort (assert in lex_scan_string) when an
# allocation fails inside its lexer, a jansson bug brine cannot work around.
add_test(NAME hardening_alloc_fail_keras
         COMMAND test_alloc_fail ${CMAKE_SOURCE_DIR}/fuzz/corpus/keras_files/custom_registered.h5
                 ${CMAKE_SOURCE_DIR}/fuzz/corpus/keras_files/lambda.keras)
set_tests_properties(hardening_alloc_fail_keras PROPERTIES LABELS hardening TIMEOUT 1200)
