# joblib (issue 8 item 6): joblib.load's own reads — NumpyArrayWrapper raw bytes and alignment
# padding after BUILD, nested pickles of object arrays, NDArrayWrapper/ZNDArrayWrapper sidecars,
# the ZF container. tests/c/joblib_dump.c runs the machine with the joblib build hook and the
# tensor pass over one file and prints JSON; tests/python/test_joblib.py compares it with
# joblib itself on fixtures tests/gen/gen_joblib.py writes with Debian's joblib 1.2 and the
# venv's joblib 1.6, and on joblib's own test data (tests/data/joblib/).
add_executable(joblib_dump ${CMAKE_CURRENT_SOURCE_DIR}/c/joblib_dump.c)
target_compile_options(joblib_dump PRIVATE ${BRINE_WARNINGS})
target_compile_definitions(joblib_dump PRIVATE _GNU_SOURCE)
target_include_directories(joblib_dump PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(joblib_dump PRIVATE brine_static OpenSSL::Crypto) # its own SHA-256

add_test(NAME py_joblib
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_joblib.py)
set_tests_properties(py_joblib PROPERTIES
  ENVIRONMENT "JOBLIB_DUMP=$<TARGET_FILE:joblib_dump>;BRINE_VENV_PYTHON=${BRINE_VENV_PYTHON};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 900)

# `brine scan` / `brine inspect` on the same fixtures, through the format model (pickle.c reads
# joblib files with jl_run; compressed ones are unwrapped by compressed.c first).
add_test(NAME py_joblib_scan
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_joblib_scan.py)
set_tests_properties(py_joblib_scan PROPERTIES
  ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;JOBLIB_DUMP=$<TARGET_FILE:joblib_dump>;BRINE_VENV_PYTHON=${BRINE_VENV_PYTHON};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 900)
